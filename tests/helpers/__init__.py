"""Helpers shared by the test modules of several packages. Test modules import helpers from here (or from a
package's own helper module), never from another test module or a conftest.py."""
