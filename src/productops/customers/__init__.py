"""Customers: the accounts (companies, with revenue) and the people in them that every
pillar talks about. Feedback demand is weighted by account ARR, analytics breaks down by
account plan, research recruits from the people.

This is the pillar's public Python API; other pillars use only what `__all__` names.

    with transaction(ws.sessions) as s:
        acme = customers.create_account(s, AccountCreate(external_id="acme", name="Acme"), "me")
        customers.update_account(s, acme.id, AccountUpdate(plan="enterprise"), "me")
"""

from productops.customers.models import Account, Person
from productops.customers.permissions import PEOPLE_PII
from productops.customers.schemas import (
    AccountCreate,
    AccountPublic,
    AccountUpdate,
    PersonContact,
    PersonCreate,
    PersonPublic,
)
from productops.customers.service import (
    CustomerSummary,
    ImportResult,
    Profiles,
    account_by_external_id,
    arr_by,
    count_people,
    create_account,
    create_person,
    delete_person,
    distinct_values,
    export_accounts,
    get_account,
    get_person,
    import_accounts,
    import_people,
    list_accounts,
    people_of,
    profiles,
    summary,
    update_account,
    version,
)

__all__ = [
    "PEOPLE_PII",
    "Account",
    "AccountCreate",
    "AccountPublic",
    "AccountUpdate",
    "CustomerSummary",
    "ImportResult",
    "Person",
    "PersonContact",
    "PersonCreate",
    "PersonPublic",
    "Profiles",
    "account_by_external_id",
    "arr_by",
    "count_people",
    "create_account",
    "create_person",
    "delete_person",
    "distinct_values",
    "export_accounts",
    "get_account",
    "get_person",
    "import_accounts",
    "import_people",
    "list_accounts",
    "people_of",
    "profiles",
    "summary",
    "update_account",
    "version",
]
