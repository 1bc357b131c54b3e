# Engram: the verbs. Every target runs on Node 24 from node_modules (see package.json).
SHELL := /bin/bash
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: help deps devenv devenv-down manifests check test test-unit test-integration demo bench build

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

deps: ## install npm dependencies (npm ci) when package-lock.json changed
	@bash hack/npm-deps.sh

devenv: ## start the local environment (Kubernetes+kwok, Kafka, Neo4j, Redis); idempotent
	@bash hack/devenv/up.sh

devenv-down: ## stop the local environment; leaves no process behind
	@bash hack/devenv/down.sh

manifests: deps ## generate crds/ from the zod schemas in operator/api
	node hack/generate-crds.ts

check: deps ## formatter, linter, type check, generated files up to date
	biome ci --colors=off .
	tsc --noEmit -p tsconfig.json
	node hack/generate-crds.ts --check

test-unit: deps ## pure unit tests
	npm run -s test:unit

test-integration: deps devenv ## integration tests against the real servers
	npm run -s test:integration

test: check test-unit test-integration ## everything CI runs
