"""The demo's product tenants: one id for one account, however large the book."""

from __future__ import annotations

from connector.sandbox.demo_company import FORMER_CUSTOMERS, former_tenant_id, tenant_id


def test_former_customers_tenants_never_meet_a_customers_in_a_book_of_100000() -> None:
    customers = {tenant_id(number) for number in range(1, 100_001)}
    former = {former_tenant_id(index) for index in range(1, FORMER_CUSTOMERS + 1)}

    assert len(customers) == 100_000
    assert len(former) == FORMER_CUSTOMERS
    assert customers.isdisjoint(former)


def test_a_small_books_customer_tenants_keep_their_ids() -> None:
    assert [tenant_id(n) for n in (1, 42, 300)] == ["TEN-0001", "TEN-0042", "TEN-0300"]
