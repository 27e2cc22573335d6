"""Fixtures shared by the handler tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def poisoned(server):
    """The test database refuses readings of 13, 14 and 15, each in its own way: what PostgreSQL might
    refuse of a reading that passed every check of ours."""
    server.execute("""CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        IF NEW.value = 13 THEN RAISE EXCEPTION 'poison 13'; END IF;
        IF NEW.value = 14 THEN PERFORM 1 / 0; END IF;
        IF NEW.value = 15 THEN RAISE check_violation USING MESSAGE = 'poison 15'; END IF;
        RETURN NEW; END $$""")
    server.execute("CREATE TRIGGER refuse_poison BEFORE INSERT ON datapoints"
                   " FOR EACH ROW EXECUTE FUNCTION refuse_poison()")
    yield server
    server.execute("DROP TRIGGER refuse_poison ON datapoints")
    server.execute("DROP FUNCTION refuse_poison()")
