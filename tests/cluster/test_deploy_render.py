"""`spatialmix deploy render`: the manifests are rendered from the settings, validated against the
Kubernetes API models, and the committed deploy/k8s/ is exactly the rendering of the defaults."""
from __future__ import annotations

import re
import tomllib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from assets.deployment import DeploymentError
from assets.kube_manifests import DeploySettings, deploy_settings, ray_cluster, render, volume_claim
from assets.settings import read_settings
from assets.kube_validate import validate

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_committed_manifests_are_the_rendered_defaults() -> None:
    for name, text in render(DeploySettings()).items():
        assert (PROJECT_ROOT / "deploy" / "k8s" / name).read_text() == text, f"re-render deploy/k8s/{name}"


def test_render_command_follows_the_settings(tmp_path: Path) -> None:
    settings = tmp_path / "spatialmix.toml"
    settings.write_text('[deploy]\nnamespace = "vision"\nimage = "reg.local/sm:2024.1"\nstorage_class = "cephfs"\n'
                        '[deploy.gpu_workers]\nreplicas = 3\n')
    out = subprocess.run([sys.executable, "-m", "assets.cli", "deploy", "render", "--settings", str(settings),
                          "--out", str(tmp_path / "k8s")], cwd=PROJECT_ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    docs = {p.name: yaml.safe_load(p.read_text()) for p in (tmp_path / "k8s").glob("*.yaml")}
    assert set(docs) == {"dagster-values.yaml", "raycluster.yaml", "data-pvc.yaml", "spatialmix-settings.yaml"}
    ray = docs["raycluster.yaml"]
    gpu = next(g for g in ray["spec"]["workerGroupSpecs"] if g["groupName"] == "gpu")
    assert ray["metadata"]["namespace"] == "vision" and gpu["replicas"] == 3
    assert gpu["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "8"
    assert gpu["rayStartParams"]["num-gpus"] == "8"
    assert docs["data-pvc.yaml"]["spec"] == {"accessModes": ["ReadWriteMany"], "storageClassName": "cephfs",
                                             "resources": {"requests": {"storage": "2Ti"}}}
    values = docs["dagster-values.yaml"]
    assert values["dagsterDaemon"]["image"] == {"repository": "reg.local/sm", "tag": "2024.1",
                                                "pullPolicy": "IfNotPresent"}
    assert values["runLauncher"]["config"]["customRunLauncher"]["class"] == "RayRunLauncher"
    assert values["additionalInstanceConfig"]["concurrency"]["pools"]["default_limit"] == 24  # one slot per GPU
    # The password only ever comes from the Secret.
    text = "\n".join(p.read_text() for p in (tmp_path / "k8s").glob("*.yaml"))
    assert "secretKeyRef" in text and not re.search(r"(?i)password:\s*\S", text)
    # Every pod mounts the cluster's own spatialmix.toml: the deployment, its Ray address and database.
    cluster = tomllib.loads(docs["spatialmix-settings.yaml"]["data"]["spatialmix.toml"])
    assert cluster["deployment"] == "ray" and cluster["data_root"] == "/data/playground/data"
    assert cluster["ray_address"] == "http://spatialmix-head-svc.vision.svc.cluster.local:8265"
    assert cluster["postgres_host"] == "postgresql.spatialmix.svc.cluster.local"


def test_validation_refuses_what_kubernetes_would() -> None:
    s = DeploySettings()
    typo = ray_cluster(s)
    typo["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["volumeMount"] = []
    with pytest.raises(DeploymentError, match="V1PodTemplateSpec"):
        validate("raycluster.yaml", typo)
    unquoted = ray_cluster(s)
    unquoted["spec"]["workerGroupSpecs"][1]["rayStartParams"]["num-gpus"] = 8
    with pytest.raises(DeploymentError, match="strings only"):
        validate("raycluster.yaml", unquoted)
    no_name = ray_cluster(s)
    del no_name["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["name"]
    with pytest.raises(DeploymentError, match="not a valid V1PodTemplateSpec"):
        validate("raycluster.yaml", no_name)
    single_node = volume_claim(s)
    single_node["spec"]["accessModes"] = ["ReadWriteOnce"]
    with pytest.raises(DeploymentError, match="ReadWriteMany"):
        validate("data-pvc.yaml", single_node)


def test_settings_refuse_unknown_keys_and_untagged_images(tmp_path: Path) -> None:
    with pytest.raises(DeploymentError, match="namepsace"):
        deploy_settings({"namepsace": "x"})
    with pytest.raises(DeploymentError, match=r"\[deploy.gpu_workers\] keys \['gpu'\]"):
        deploy_settings({"gpu_workers": {"gpu": 8}})
    with pytest.raises(DeploymentError, match="not settings the cluster takes from there"):
        deploy_settings({"settings": {"deployment": "embedded"}})
    with pytest.raises(DeploymentError, match=r"\[deploy.settings\] `spatialqa_shards` must be int"):
        deploy_settings({"settings": {"spatialqa_shards": "8"}})
    with pytest.raises(DeploymentError, match="explicit tag"):
        render(deploy_settings({"image": "registry:5000/spatialmix"}))
    settings = tmp_path / "spatialmix.toml"
    settings.write_text('[deploy]\nimage = "r/sm:1"\n[deploy.settings]\nrecipe = "recipes/sample.toml"\n')
    assert deploy_settings(read_settings(settings).deploy).settings == {"recipe": "recipes/sample.toml"}
    assert deploy_settings({}) == DeploySettings()


def test_deploy_doc_names_only_files_that_exist() -> None:
    doc = (PROJECT_ROOT / "docs" / "deploy.md").read_text()
    named = set(re.findall(r"deploy/[\w./-]+\w", doc))
    assert {"deploy/Dockerfile", "deploy/k8s/data-pvc.yaml", "deploy/k8s/raycluster.yaml",
            "deploy/k8s/dagster-values.yaml"} <= named
    assert [p for p in named if not (PROJECT_ROOT / p).exists()] == []
