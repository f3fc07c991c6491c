"""A search by name leaves its terms in the ledger only: the served process's log lines (stdout)
name the request by method and path, never the names or date of birth asked, whatever the answer."""

from __future__ import annotations

from tests.e2e.test_log_hygiene import ledger  # noqa: F401 - the fixture

TERMS = {"given_name": "Quillonia", "family_name": "Zebbedeeworth", "date_of_birth": "2019-04-07"}


def test_search_terms_are_never_logged(ledger):
    served = ledger.served
    with served.client(ledger.reader) as client:
        assert client.get("/v1/children/search", params=TERMS).status_code == 200
        assert client.get("/v1/children/search", params={**TERMS, "date_of_birth": "2019-02-30"}).status_code == 400
        assert client.get("/v1/chronology", params={"nhs_number": "9434765918"}).status_code == 400
    lines = served.lines_about("GET", "/v1/children/search", at_least=2)
    assert len(lines) == 2
    log = served.log()
    for term in (*TERMS.values(), "2019-02-30", "Quill", "Zebb", "9434765918"):
        assert term not in log, term
