"""Suite-wide pytest settings."""

# Files whose tests each run a whole notebook (one to four minutes on two cores). They are collected
# first so that pytest-xdist's workers start on them and the short tests fill the gaps at the end;
# collected last, one worker could be left with a four-minute notebook while the other sits idle.
LONG_FIRST = ("test_browser.py", "test_notebooks.py")


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: item.path.name not in LONG_FIRST)  # stable: the order within each group is kept
