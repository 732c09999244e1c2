#!/usr/bin/env bash
# Lints the committed OpenAPI document with the Dutch API Design Rules
# (Spectral ruleset in conformance/, a copy of the published one). Errors fail; warnings print.
set -euo pipefail
cd "$(dirname "$0")/.."
RULESET="${ADR_RULESET:-conformance/adr-ruleset.yaml}"
SPECTRAL_VERSION="6.16.3"
npx --yes "@stoplight/spectral-cli@${SPECTRAL_VERSION}" lint \
  -r "$RULESET" openapi/openapi.json --fail-severity=error
