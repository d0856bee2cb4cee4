"""The local stack that `make demo`, `make scenarios`, `make bench` and the tests share.

- cluster: the local control plane (hack/local-cluster.sh) and helpers to reach it;
- real_node, images: a real node (kubelet, containerd, runc, CNI) with locally built images;
- faults, workloads, scenarios: broken workloads — real kubelet faults on the real node, kwok-simulated ones;
- aws, container_insights, alarm_evaluator, loop: the local AWS (moto), the Container Insights agent, alarm
  evaluation and the alarm → SNS → bridge loop;
- opensearch, github_server, bedrock_server, http_stub: a real OpenSearch node and vendor stand-ins;
- stack: the operator process over it all.
Tests import from here; nothing here imports from tests.
"""
