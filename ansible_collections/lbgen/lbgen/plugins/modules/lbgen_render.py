# Copyright: lbgen maintainers
# Apache License 2.0 (see the lbgen repository's pyproject.toml)
"""Documentation of ``lbgen.lbgen.lbgen_render``; the work is done by the action plugin."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: lbgen_render
short_description: Render an lbgen load-balancer spec and install the config on the host
description:
  - Renders an lbgen spec (one declarative description of a
    load balancer in front of Kubernetes API servers) into an C(haproxy.cfg), an nginx
    C(stream {}) config or, for a tier of load-balancer nodes sharing a virtual IP (the spec's
    C(vip) section), one node's C(keepalived.conf), B(on the controller), and installs the
    result at O(dest) on the managed host through M(ansible.builtin.copy).
  - Managed hosts need nothing but the engine; lbgen must be installed for the Python that runs
    Ansible on the controller.
  - Because the file is installed by M(ansible.builtin.copy) (as its
    O(ansible.builtin.copy#module:content)), C(changed), check mode, diff mode, O(validate),
    O(backup), O(follow) and
    O(owner)/O(group)/O(mode) behave exactly as they do for M(ansible.builtin.copy) and
    M(ansible.builtin.template). Rendering is deterministic (no timestamp in the file), so a
    second run with the same spec reports no change.
  - A spec error fails the task with lbgen's C(file:line:col) message. Translation warnings (a
    field the engine cannot express) are shown as Ansible warnings; O(strict) makes them fail
    the task.
version_added: 0.1.0
author:
  - lbgen maintainers
options:
  spec:
    description:
      - Path of the spec file on the controller. A relative path is looked up like the O(src) of
        M(ansible.builtin.copy) (the role's C(files/), the playbook's folder).
      - A vault-encrypted file (C(ansible-vault encrypt)) is decrypted with the play's vault
        secrets, as M(ansible.builtin.copy) does with O(src).
      - Exactly one of O(spec) and O(spec_content) is required.
    type: str
  spec_content:
    description:
      - The spec itself, as a YAML string or as a dictionary (for example from inventory
        variables). Error locations of a dictionary refer to its JSON form; the dotted spec path
        in each message names the field.
    type: raw
  target:
    description:
      - The engine to render for. C(keepalived) renders the config of one node of the spec's
        C(vip) tier, the one named by O(node).
    type: str
    required: true
    choices: [haproxy, nginx, nginx-plus, keepalived]
  node:
    description:
      - O(target=keepalived) only. The node of the spec's C(vip.nodes) whose C(keepalived.conf)
        is rendered, as C(lbgen render -t keepalived --node NODE).
      - Defaults to the host's C(inventory_hostname) (resolved by the action plugin on the
        controller). When the inventory names the hosts as C(vip.nodes) does, each host gets
        its own config without O(node). Set it when the names differ, for example to
        C({{ lb_node }}), a host variable.
    type: str
  layout:
    description:
      - C(full) (a complete config), C(stream) (an nginx C(stream {}) block, the nginx default)
        or C(upstreams) (the inside of a stream block, for C(include)). HAProxy has only C(full).
    type: str
    choices: [full, stream, upstreams]
  strict:
    description: Translation warnings fail the task instead of being shown as warnings.
    type: bool
    default: false
  load_module:
    description:
      - nginx with O(layout=full) only. The C(load_module) path of the stream module, for
        distributions that build it as a dynamic module (Debian,
        C(/usr/lib/nginx/modules/ngx_stream_module.so)).
    type: str
  templates:
    description: A folder on the controller whose templates override lbgen's built-in ones.
    type: str
  dest:
    description:
      - Where the rendered config is installed on the managed host, the file's path, expanded
        (C(~), C($VAR)) on the managed host as M(ansible.builtin.copy) expands it.
      - A directory, or a path ending in C(/), is refused, as M(ansible.builtin.copy) refuses
        its O(ansible.builtin.copy#module:content) there (the rendering has no file name).
    type: str
    required: true
  follow:
    description: When O(dest) is a symbolic link, write the file it points to instead of
      replacing the link. As in M(ansible.builtin.copy).
    type: bool
    default: false
  force:
    description:
      - When false, an existing O(dest) is left alone whatever it holds; only a missing one is
        written. As in M(ansible.builtin.copy).
    type: bool
    default: true
  validate:
    description:
      - Command run on the managed host against the new file before it replaces O(dest); C(%s)
        stands for the file (once). When it fails, O(dest) is left untouched and the task fails.
        As in M(ansible.builtin.copy).
      - HAProxy, C(haproxy -c -f %s).
      - nginx, O(layout=full) (a whole C(nginx.conf)), C(nginx -t -c %s); on Debian, whose
        stream module is a dynamic one, together with
        O(load_module=/usr/lib/nginx/modules/ngx_stream_module.so).
      - nginx, O(layout=stream) (a C(stream {}) block the host's C(nginx.conf) includes at its
        top level) is no whole config, so C(nginx -t -c %s) cannot check it; wrap it in one,
        loading the host's modules (Debian) - see the second example.
      - keepalived, C(lbgen check --engine keepalived %s), which runs the host's
        C(keepalived -t -f) on the file (keepalived 2.2.7, Debian 12, kills itself during
        C(-t) when scripts run as a non-root C(script_user); lbgen checks a copy naming root
        there, same lines). It needs lbgen on the managed host. keepalived checks the config
        for the machine it runs on (an O(node)'s C(interface) must exist there), so this is
        the right place for the check.
    type: str
  backup:
    description: Keep a timestamped copy of O(dest) when it changes. As in M(ansible.builtin.copy).
    type: bool
    default: false
  owner:
    description: As in M(ansible.builtin.copy).
    type: str
  group:
    description: As in M(ansible.builtin.copy).
    type: str
  mode:
    description:
      - As in M(ansible.builtin.copy).
      - V(preserve) gives the file the mode of the O(spec) file, as M(ansible.builtin.template)
        gives its template's; with O(spec_content), which has no file, it fails the task.
    type: raw
  seuser:
    description: As in M(ansible.builtin.copy).
    type: str
  serole:
    description: As in M(ansible.builtin.copy).
    type: str
  setype:
    description: As in M(ansible.builtin.copy).
    type: str
  selevel:
    description: As in M(ansible.builtin.copy).
    type: str
  attributes:
    description: As in M(ansible.builtin.copy).
    type: str
    aliases: [attr]
  unsafe_writes:
    description: As in M(ansible.builtin.copy).
    type: bool
    default: false
attributes:
  action:
    support: full
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
seealso:
  - module: ansible.builtin.copy
  - module: ansible.builtin.template
"""

EXAMPLES = r"""
- name: Render haproxy.cfg from the spec and check it before it replaces the old one
  lbgen.lbgen.lbgen_render:
    spec: lb/prod-k8s-api.yaml
    target: haproxy
    dest: /etc/haproxy/haproxy.cfg
    validate: haproxy -c -f %s
    backup: true
    owner: root
    group: haproxy
    mode: "0640"
  notify: Reload haproxy

- name: An nginx stream block from a spec kept in inventory variables, checked by nginx
  lbgen.lbgen.lbgen_render:
    spec_content: "{{ lb_spec }}"
    target: nginx
    layout: stream
    dest: /etc/nginx/stream.d/kubernetes-api.conf
    # nginx.conf has "include /etc/nginx/stream.d/*.conf;" at its top level. A stream block is
    # no whole config: nginx -t checks it inside a minimal main file that loads the modules.
    validate: >-
      sh -c '{ echo "include /etc/nginx/modules-enabled/*.conf;"; echo "events {}";
      echo "include $1;"; } > "$1.main" && nginx -t -c "$1.main"; s=$?; rm -f "$1.main";
      exit $s' sh %s
  notify: Reload nginx

- name: A whole nginx.conf for Debian's nginx (stream module loaded), checked by nginx
  lbgen.lbgen.lbgen_render:
    spec: lb/prod-k8s-api.yaml
    target: nginx
    layout: full
    load_module: /usr/lib/nginx/modules/ngx_stream_module.so
    dest: /etc/nginx/nginx.conf
    validate: nginx -t -c %s
  notify: Reload nginx

- name: This host's keepalived.conf (node defaults to inventory_hostname), checked by keepalived
  lbgen.lbgen.lbgen_render:
    spec: lb/ha-tier.yaml
    target: keepalived
    dest: /etc/keepalived/keepalived.conf
    validate: lbgen check --engine keepalived %s
    mode: "0640"
  notify: Restart keepalived

- name: Write the config only when the host has none yet
  lbgen.lbgen.lbgen_render:
    spec: lb/prod-k8s-api.yaml
    target: haproxy
    dest: /etc/haproxy/haproxy.cfg
    force: false
"""

RETURN = r"""
dest:
  description: The installed file (as returned by M(ansible.builtin.copy)).
  returned: >-
    success, but not in check mode when O(dest) does not exist yet (as for
    M(ansible.builtin.copy))
  type: str
backup_file:
  description: The backup copy, when O(backup=true) and the file changed.
  returned: changed and backup
  type: str
lbgen:
  description: What lbgen did.
  returned: success
  type: dict
  contains:
    target:
      description: The engine rendered for.
      type: str
    layout:
      description: The layout rendered.
      type: str
    node:
      description: The vip node rendered for (O(target=keepalived)), else null.
      type: str
    diagnostics:
      description: Every warning and note of the translation, as C(file:line:col) lines.
      type: list
      elements: str
"""
