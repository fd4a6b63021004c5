"""`svcinfra new`: a service in the reference layout, from the repository's copier template.

    svcinfra new service NAME --kind internal|dev --with postgres,redis,publish,...
    svcinfra new dockerfile SERVICE_DIR [--check]

The template is `templates/service/` of the monorepo, named by the `copier.yml` at its root, so
a generated service records where it came from (`.copier-answers.yml`: the template's commit)
and `copier update` brings it later template changes. Every service's Dockerfile, the reference
services' too, is rendered from the template's one `Dockerfile.jinja` (CI-1).
"""

from svcinfra.newservice._cli import new
from svcinfra.newservice._dockerfile import DockerfileError, dockerfile_context, render_dockerfile
from svcinfra.newservice._service import PARTS, NewServiceError, new_service

__all__ = [
    "PARTS",
    "DockerfileError",
    "NewServiceError",
    "dockerfile_context",
    "new",
    "new_service",
    "render_dockerfile",
]
