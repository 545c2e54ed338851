"""The balance trigger checks each ledger transaction once per commit, not once per leg.

The deferred constraint trigger of 0002 fires for every entry; the legs of one transaction fire
one after another at commit and each re-ran the same sum. Now a check remembers (in a setting
local to the database transaction) which ledger transaction it summed and the highest entry id
it saw; a later firing for an entry of the same transaction with an id not above that one was
part of that sum and is skipped. Any other entry is checked as before, so an unbalanced
transaction still fails the commit. It roughly halves the commit time of a sweep batch that
posts hundreds of transactions (docs/performance.md). PostgreSQL only, like 0002.
"""

from django.db import migrations

CHECK_ONCE = """
CREATE OR REPLACE FUNCTION payments_ledger_check_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    leg record;
    seen text;
    last_id bigint := 0;
BEGIN
    seen := current_setting('payments.ledger_checked', true);
    IF seen IS NOT NULL AND seen <> '' AND split_part(seen, ':', 1)::bigint = NEW.transaction_id
       AND NEW.id <= split_part(seen, ':', 2)::bigint THEN
        RETURN NULL;
    END IF;
    FOR leg IN
        SELECT currency, SUM(amount_minor) AS total, MAX(id) AS last
        FROM payments_ledgerentry WHERE transaction_id = NEW.transaction_id GROUP BY currency
    LOOP
        IF leg.total <> 0 THEN
            RAISE EXCEPTION 'ledger transaction % does not balance: % % left over',
                NEW.transaction_id, leg.total, leg.currency
                USING ERRCODE = 'check_violation';
        END IF;
        last_id := GREATEST(last_id, leg.last);
    END LOOP;
    PERFORM set_config('payments.ledger_checked', NEW.transaction_id || ':' || last_id, true);
    RETURN NULL;
END;
$$;
"""

CHECK_EACH = """
CREATE OR REPLACE FUNCTION payments_ledger_check_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    unbalanced record;
BEGIN
    SELECT currency, SUM(amount_minor) AS total INTO unbalanced
    FROM payments_ledgerentry
    WHERE transaction_id = NEW.transaction_id
    GROUP BY currency
    HAVING SUM(amount_minor) <> 0
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger transaction % does not balance: % % left over',
            NEW.transaction_id, unbalanced.total, unbalanced.currency
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;
"""


def _run(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)  # no placeholders: RAISE uses % itself

    return run


class Migration(migrations.Migration):
    dependencies = [("payments", "0006_payment_state_as_of_one_unpaid_order")]

    operations = [migrations.RunPython(_run(CHECK_ONCE), _run(CHECK_EACH), elidable=False)]
