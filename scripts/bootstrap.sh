#!/bin/sh
# The set-up alone, as `npm run setup` runs it (kept for the hands that still type this; `npm
# test` and `npm run dev` run it themselves): scripts/setup/, docs/operations.md "Setting up".
exec sh "$(dirname "$0")/run.sh" setup
