import pytest

from handrecon.data.devdata import default_devdata_dir


@pytest.fixture(scope="session")
def devdata():
    root = default_devdata_dir()
    if root is None:
        pytest.skip("devdata folder (../shared/devdata) not present")
    return root


@pytest.fixture(scope="session")
def reconstructor():
    from handrecon.api import HandReconstructor

    rec = HandReconstructor()
    yield rec
    rec.close()


@pytest.fixture(autouse=True)
def one_worker_by_default(monkeypatch):
    """In-process runs, so that tests can replace parts of the pipeline; the pool has its own tests."""
    monkeypatch.setenv("HANDRECON_WORKERS", "1")
