"""Checks of the deployment artefacts against the code they deploy.

These machines have no container engine and no cluster, so the Dockerfile, the compose
file and the Kubernetes manifests are never run here. Instead each file is parsed and
compared with what the services read: the environment variables of their settings classes
(so a renamed or new variable shows up at once), the ports they listen on, the routes their
HTTP app serves, the topics command. Every check returns the problems it finds.

- ``needs``: what the code reads and what production needs set;
- ``units``: one casework process as a deployment file describes it, and the rules shared by
  compose and Kubernetes;
- ``dockerfile``, ``compose``, ``k8s``: reading each kind of file, and its own checks;
- ``mutations``: broken copies of the files, each with the problem a check must report.
"""
