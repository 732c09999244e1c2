#!/usr/bin/env bash
# Lints the committed OpenAPI document with the Dutch API Design Rules
# (Spectral ruleset in ../shared/conformance). Errors fail; warnings print.
set -euo pipefail
cd "$(dirname "$0")/.."
RULESET="${ADR_RULESET:-../shared/conformance/adr-ruleset.yaml}"
SPECTRAL_VERSION="6.16.3"
npx --yes "@stoplight/spectral-cli@${SPECTRAL_VERSION}" lint \
  -r "$RULESET" openapi/openapi.json --fail-severity=error
