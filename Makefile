# incident-operator — developer entry points. `make demo` and `make test` are the two that matter.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CLUSTER := hack/local-cluster.sh
export KUBECONFIG ?= $(CURDIR)/.local/kubeconfig

.PHONY: help venv cluster-build cluster-up cluster-down cluster-status demo test scenarios record-scenarios eval bench lambda-zip lambda-runtime clean crd lock chart-crds

help:
	@echo "make demo          local control plane + operator + a broken workload, walked to Resolved"
	@echo "make test          the whole test suite against a real kube-apiserver (what CI runs)"
	@echo "make cluster-up    start the local control plane (kubeconfig: .local/kubeconfig)"
	@echo "make cluster-down  stop it and delete its data"
	@echo "make lambda-zip    build/bridge-lambda.zip for the SNS → Incident bridge"
	@echo "make lambda-runtime  the Lambda runtime the tests run that zip in (RIE + awslambdaric, cached)"
	@echo "make chart-crds    copy crds/*.yaml into the Helm chart (charts/incident-operator/crds/)"
	@echo "make scenarios     replay scenarios/ on the local stack and print the accuracy table"
	@echo "make record-scenarios  reproduce the kubelet-side faults on the real node, save scenarios/recorded/"
	@echo "make eval          scenarios/ through the rules engine and the LLM agent (the configured model, or the"
	@echo "                   scripted stand-in): top-1, top-3, calibration, tokens, seconds; RESCORE=RUN... re-scores"
	@echo "make crd           regenerate crds/incident.yaml from the pydantic models"
	@echo "make lock          re-pin requirements/image.lock (the image's dependencies, with hashes)"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,aws,github,agent,anthropic,openai,litellm]'
	touch $@

venv: $(VENV)/.installed

cluster-build:
	bash $(CLUSTER) build
	bash hack/build-helm.sh >/dev/null

cluster-up:
	bash $(CLUSTER) up

cluster-down:
	bash $(CLUSTER) down

cluster-status:
	bash $(CLUSTER) status

demo: venv cluster-build build/bridge-lambda.zip lambda-runtime
	$(PY) hack/demo.py

test: venv cluster-build lambda-runtime
	$(PY) -m pytest -q -p no:cacheprovider tests

scenarios: venv cluster-build
	$(PY) hack/scenarios.py

# the kubelet-side faults reproduced on the real node, their evidence saved as scenarios/recorded/ (FAULTS="oom crash": some)
record-scenarios: venv cluster-build
	$(PY) hack/record-scenarios.py $(FAULTS)

# RESCORE="build/eval/A build/eval/B": score saved runs again, without stack or model
eval: venv
	@if [ -z "$(RESCORE)" ]; then $(MAKE) --no-print-directory cluster-build; fi
	RESCORE="$(RESCORE)" $(PY) hack/eval.py

bench: venv cluster-build
	$(PY) bench/run.py

lambda-zip: venv
	PY=$(PY) bash hack/build-lambda.sh

# the demo's bridge: rebuilt only when the package or the script changed
build/bridge-lambda.zip: $(VENV)/.installed hack/build-lambda.sh $(wildcard bridge_lambda/*.py)
	PY=$(PY) bash hack/build-lambda.sh

# aws-lambda-rie (Go module) and the python3.11 runtime directory (awslambdaric, boto3), cached in ~/.cache/incident-operator
lambda-runtime: venv
	$(PY) -m local_stack.lambda_runtime build >/dev/null

crd: venv
	$(VENV)/bin/incident-operator crd -o crds/incident.yaml
	$(VENV)/bin/incident-operator crd --which approval -o crds/incidentapproval.yaml
	$(VENV)/bin/incident-operator crd --which policy -o crds/remediationpolicy.yaml
	$(MAKE) chart-crds

lock: venv
	$(PY) -m pip install -q uv
	$(VENV)/bin/uv pip compile pyproject.toml --extra aws --extra github --extra agent --extra anthropic --extra openai --generate-hashes \
	  --universal --python-version 3.11 --no-header --custom-compile-command "make lock" -o requirements/image.lock

# The chart ships byte-identical copies of crds/*.yaml (tests/test_chart.py checks it).
chart-crds:
	rm -f charts/incident-operator/crds/*.yaml
	cp crds/*.yaml charts/incident-operator/crds/

clean: cluster-down
	rm -rf $(VENV) .local *.egg-info operator/*.egg-info
