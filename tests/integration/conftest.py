"""pytest wiring for the integration tests: `--nncompress PATH` names the binary under test
(ctest passes it; run one case alone with `/usr/bin/python3 -m pytest tests/integration/FILE -k NAME
--nncompress build/nncompress`)."""
import os

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


def pytest_configure(config):
    config.addinivalue_line("markers", "heavy: takes minutes under the sanitizers; the main suite runs it, the "
                            "sanitizer suite (NNCOMPRESS_SANITIZE=1, tools/test.sh --sanitize) leaves it out")


def pytest_collection_modifyitems(config, items):
    """Under the sanitizers, the cases marked heavy (the same code paths on a larger model than
    other cases use) are deselected to keep CI within its time budget; the main suite runs them."""
    if os.environ.get("NNCOMPRESS_SANITIZE") != "1":
        return
    heavy = [i for i in items if i.get_closest_marker("heavy")]
    if heavy:
        config.hook.pytest_deselected(items=heavy)
        items[:] = [i for i in items if not i.get_closest_marker("heavy")]
