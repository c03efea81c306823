# One build of an application's codebase into an image: wharf-builder on a builder
# node of the application's cloudspace, against that node's Docker engine (so its
# layer cache stays between builds). It never restarts or reschedules; wharfd reads its
# output as the build log and stops it on cancel or past its time limit.
#
# Runnable by hand:  nomad job run -var-file=build.vars.hcl build.nomad.hcl
# The build's own values (source, git URL and ref, image) are in the spec it fetches
# from the registry, never in this file or its arguments: Nomad interpolates arguments.
# Its registry credential is in Vault (credential_path, readable under vault_policy
# alone), rendered into the task's secrets directory: never in this file.

variable "region" {
  type = string
}

variable "datacenters" {
  type    = list(string)
  default = ["*"]
}

variable "node_pool" {
  type    = string
  default = "default"
}

variable "builder" {
  type        = string
  description = "Path of wharf-builder on the builder nodes."
}

variable "spec_url" {
  type        = string
  description = "The build spec, a registry blob."
}

variable "spec_digest" {
  type = string
}

variable "network" {
  type        = string
  default     = "none"
  description = "Docker network of the build's RUN steps: none, or one of the operator's with no route to the node's agents."
}

variable "vault_policy" {
  type        = string
  default     = ""
  description = "The build's Vault policy (wharf-build.<org>.<app>.<build>); empty when the registry asks for no credential."
}

variable "credential_path" {
  type        = string
  default     = ""
  description = "The KV v2 data path of the build's registry credential; empty when the registry asks for none."
}

variable "meta" {
  type    = map(string)
  default = {}
}

job "wharf-build" {
  region      = var.region
  datacenters = var.datacenters
  node_pool   = var.node_pool
  type        = "batch"
  meta        = var.meta

  group "build" {
    count = 1

    restart {
      attempts = 0
      mode     = "fail"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "build" {
      driver       = "raw_exec"
      kill_timeout = "20s"

      config {
        command = var.builder
        args = concat(
          ["-spec", var.spec_url, "-spec-digest", var.spec_digest, "-work", "$${NOMAD_TASK_DIR}/work", "-network", var.network],
          var.credential_path == "" ? [] : ["-registry-credential", "$${NOMAD_SECRETS_DIR}/registry-credential"],
        )
      }

      dynamic "vault" {
        for_each = var.credential_path == "" ? [] : [1]
        content {
          policies    = [var.vault_policy]
          change_mode = "noop"
        }
      }

      dynamic "template" {
        for_each = var.credential_path == "" ? [] : [1]
        content {
          destination = "secrets/registry-credential"
          perms       = "0600"
          change_mode = "noop"
          data        = "{{ with secret \"${var.credential_path}\" }}{{ .Data.data.credential }}{{ end }}"
        }
      }

      resources {
        cpu    = 500
        memory = 512
      }
    }
  }
}
