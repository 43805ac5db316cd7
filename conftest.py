"""This repository's pytest setup, on top of the conv-harness plugin (entry point `pytest11`).

- The plugin's options under their older, unprefixed names (--impl, --cases, --shard,
  --strict-rejections), as aliases of --conv-impl, ... for the commands the tests and older notes
  use.
- The matrix is always on here (tests/test_matrix.py), so it is loaded when pytest starts, as the
  report header shows.
- Where the installed metadata predates the entry point (an editable install made before it, or
  this checkout on PYTHONPATH next to another installation), the plugin is registered from here;
  registering it twice would be an error.
"""

import harness.pytest_plugin as plugin


def pytest_addoption(parser, pluginmanager):
    if not pluginmanager.is_registered(plugin) and not pluginmanager.is_blocked(plugin.PLUGIN_NAME):
        pluginmanager.register(plugin, plugin.PLUGIN_NAME)
    plugin.add_unprefixed_aliases(parser)


def pytest_configure(config):
    if config.pluginmanager.is_registered(plugin):
        plugin.activate(config)
