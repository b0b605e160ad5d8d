# Deployment verbs, included by the root Makefile (`include mk/deploy.mk`).
#
#   make deploy-check   offline checks of chart, components, manifests (part of `make test`)
#   make images         one image per binary from deploy/Dockerfile (needs Docker)
#   make kind-up        kind cluster + Dapr + Redpanda + PostgreSQL + Secrets
#   make deploy         load the images into kind, helm upgrade --install, wait
#   make e2e            integration-tests against the cluster (E2E_TARGET=kind)
#   make kind-down      delete the cluster
#
# Everything below can be overridden on the command line or in the environment.

# Binaries that get an image (tasks/<bin>:<tag>); add new services here.
IMAGE_BINS ?= task recurrence reminder notification audit sync-gateway migrate
IMAGE_PREFIX ?= tasks
IMAGE_TAG ?= dev
DOCKER ?= docker
DOCKER_BUILD_FLAGS ?=
KIND_CLUSTER ?= tasks
DEPLOY_NAMESPACE ?= tasks
DEPLOY_RELEASE ?= tasks
DAPR_VERSION ?= 1.18.3

export IMAGE_BINS IMAGE_PREFIX IMAGE_TAG KIND_CLUSTER DEPLOY_NAMESPACE DEPLOY_RELEASE DAPR_VERSION

.PHONY: deploy-check images kind-up deploy e2e kind-down

deploy-check:
	scripts/deploy/check.sh

images:
	@set -e; for bin in $(IMAGE_BINS); do \
	  echo "==> $(IMAGE_PREFIX)/$$bin:$(IMAGE_TAG)"; \
	  DOCKER_BUILDKIT=1 $(DOCKER) build -f deploy/Dockerfile --build-arg BIN=$$bin \
	    -t $(IMAGE_PREFIX)/$$bin:$(IMAGE_TAG) $(DOCKER_BUILD_FLAGS) . ; \
	done

kind-up:
	scripts/deploy/kind-up.sh

deploy:
	scripts/deploy/deploy.sh

e2e:
	scripts/deploy/e2e.sh

kind-down:
	scripts/deploy/kind-down.sh
