"""pytest wiring for the integration tests: `--nncompress PATH` names the binary under test
(ctest passes it; run one case alone with `/usr/bin/python3 -m pytest tests/integration/FILE -k NAME
--nncompress build/nncompress`)."""
import pytest


def pytest_addoption(parser):
    parser.addoption("--nncompress", default="build/nncompress", help="the nncompress binary under test")
    parser.addoption("--models", default="build/testmodels", help="folder for torchvision models exported by the tests")


@pytest.fixture(scope="session")
def nncompress(request):
    return request.config.getoption("--nncompress")


@pytest.fixture(scope="session")
def models_dir(request):
    return request.config.getoption("--models")
