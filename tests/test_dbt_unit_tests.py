"""The dbt unit tests (unit_tests: in the models' YAML): SQL logic on hand-written rows.

The nightly build leaves them out; they run here, against a copy of a built warehouse, because
a unit test of an incremental model reads the columns of the table it mocks.
"""

from orchestration.project import DBT_PROJECT_DIR
from orchestration.segments import load_manifest
from tests.conftest import CUSTOMER_MARTS_AS_OF, copy_warehouse, dbt_test


def test_dbt_unit_tests_pass(customer_marts_warehouse, tmp_path):
    home = tmp_path / "home"
    copy_warehouse(customer_marts_warehouse, home)
    result = dbt_test(home, tmp_path / "target", "test_type:unit", CUSTOMER_MARTS_AS_OF)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    declared = {
        test["name"]
        for test in load_manifest(DBT_PROJECT_DIR / "target" / "manifest.json")[
            "unit_tests"
        ].values()
    }
    assert len(declared) >= 4
    passed = {
        line.split("::")[1].split()[0]
        for line in output.splitlines()
        if " PASS " in line and "::" in line
    }
    assert passed == declared, output[-4000:]
