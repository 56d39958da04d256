"""tests/prisma/test_core_flows_on_prisma.py once more, on the database the Prisma CLI itself built here
(`prisma migrate diff` of the portal's schema, run by `prisma db execute`: cli/conftest.py), after the adoption
command."""

from tests.prisma.test_core_flows_on_prisma import *  # noqa: F403
