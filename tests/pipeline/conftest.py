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
