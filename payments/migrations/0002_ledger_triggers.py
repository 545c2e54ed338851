"""The ledger's invariants in the database, on PostgreSQL only (SQLite, the dev default, relies on
the checks in payments/ledger.py):

- a deferred constraint trigger: at commit, the entries of every transaction that received a new
  entry must sum to zero per currency, or the commit fails (IntegrityError, SQLSTATE 23514);
- append-only: UPDATE and DELETE of entries and of transactions raise (SQLSTATE 23000).

Row triggers do not fire on TRUNCATE, so Django's test flush still empties the tables. Nothing
relies on ON DELETE: LedgerEntry.transaction and LedgerTransaction.order are PROTECT.
"""

from django.db import migrations

CREATE = [
    """
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
    """,
    """
    CREATE CONSTRAINT TRIGGER payments_ledgerentry_balanced
        AFTER INSERT ON payments_ledgerentry
        DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION payments_ledger_check_balanced();
    """,
    """
    CREATE OR REPLACE FUNCTION payments_ledger_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
    END;
    $$;
    """,
    """
    CREATE TRIGGER payments_ledgerentry_append_only
        BEFORE UPDATE OR DELETE ON payments_ledgerentry
        FOR EACH ROW EXECUTE FUNCTION payments_ledger_append_only();
    """,
    """
    CREATE TRIGGER payments_ledgertransaction_append_only
        BEFORE UPDATE OR DELETE ON payments_ledgertransaction
        FOR EACH ROW EXECUTE FUNCTION payments_ledger_append_only();
    """,
]

DROP = [
    "DROP TRIGGER IF EXISTS payments_ledgertransaction_append_only ON payments_ledgertransaction;",
    "DROP TRIGGER IF EXISTS payments_ledgerentry_append_only ON payments_ledgerentry;",
    "DROP FUNCTION IF EXISTS payments_ledger_append_only();",
    "DROP TRIGGER IF EXISTS payments_ledgerentry_balanced ON payments_ledgerentry;",
    "DROP FUNCTION IF EXISTS payments_ledger_check_balanced();",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql, params=None)  # no placeholders: RAISE uses % itself

    return run


class Migration(migrations.Migration):
    dependencies = [("payments", "0001_initial")]

    operations = [migrations.RunPython(_run(CREATE), _run(DROP), elidable=False)]
