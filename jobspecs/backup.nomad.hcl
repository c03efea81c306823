# The backups (pg_dump) of a database service instance, one now or one per run of a
# schedule (a periodic job), or one restore (pg_restore) of a
# backup into an instance: a batch job on a node of the cloudspace that has PostgreSQL's
# client programs (raw_exec: no image here carries them). It never restarts or
# reschedules; wharfd reads the dump from the allocation's data directory (a backup) or
# hands it in as an artifact from the cloudspace's registry (a restore).
#
# Runnable by hand:  nomad job run -var-file=backup.vars.hcl backup.nomad.hcl
# The credentials come from Vault's database engine through the template below, under a
# policy that grants the instance's creds path only.

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

variable "vault_policy" {
  type        = string
  description = "The instance's backup policy (wharf-backup.<role>): read its creds path only."
}

variable "role" {
  type        = string
  description = "The Vault database role issuing the instance's users."
}

variable "host" {
  type = string
}

variable "port" {
  type = number
}

variable "database" {
  type = string
}

variable "network_mode" {
  type        = string
  default     = "bridge"
  description = "The group's network mode: bridge (pg_dump runs in a network namespace of its own on the node's task bridge, as tasks do) or host."
}

variable "pg_bin" {
  type        = string
  default     = "/usr/lib/postgresql/15/bin"
  description = "Where pg_dump and pg_restore are on the node."
}

variable "restore_url" {
  type        = string
  default     = ""
  description = "Empty for a backup; for a restore, the registry URL of the dump to restore."
}

variable "registry_token_path" {
  type        = string
  default     = ""
  description = "For a restore from a registry that asks for a token: the KV v2 data path of a token pulling the dump (under vault_policy). The task then fetches the dump itself, with curl, sending the token its template wrote in the secrets directory; no artifact (which could carry it only in this file)."
}

variable "schedule" {
  type        = string
  default     = ""
  description = "A cron expression (UTC): the job is periodic, one backup per run; empty for one run now."
}

variable "meta" {
  type    = map(string)
  default = {}
}

job "wharf-backup" {
  region      = var.region
  datacenters = var.datacenters
  node_pool   = var.node_pool
  type        = "batch"
  meta        = var.meta

  dynamic "periodic" {
    for_each = var.schedule == "" ? [] : [1]
    content {
      cron             = var.schedule
      prohibit_overlap = true
      time_zone        = "UTC"
    }
  }

  group "pg" {
    # pg_dump and pg_restore (Wharf's own programs, not a tenant's) run on the node's
    # task bridge as tasks do, reaching only the database; a restore that fetches its
    # dump from the registry itself (registry_token_path) runs on the host's network,
    # since the registry is fenced off from the bridge, and holds a pull token for that
    # one dump only.
    network {
      mode = var.registry_token_path == "" ? var.network_mode : "host"
    }

    restart {
      attempts = 0
      mode     = "fail"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "pg" {
      driver = "raw_exec"

      dynamic "artifact" {
        for_each = var.restore_url == "" || var.registry_token_path != "" ? [] : [1]
        content {
          source      = var.restore_url
          destination = "local/dump.pgc"
          mode        = "file"
        }
      }

      config {
        # A restore with a registry token runs sh: curl fetches the dump (sending the
        # header file the template wrote), then sh becomes pg_restore.
        command = var.restore_url == "" ? "${var.pg_bin}/pg_dump" : (var.registry_token_path == "" ? "${var.pg_bin}/pg_restore" : "/bin/sh")
        # The users act as the owner role (their default role), so a dump holds every
        # object of the database, and a restore makes them the owner's again.
        args = var.restore_url == "" ? [
          "--format=custom", "--no-owner", "--no-privileges", "--file=$${NOMAD_ALLOC_DIR}/data/dump.pgc",
          ] : concat(var.registry_token_path == "" ? [] : [
            "-c", "set -e; url=\"$1\"; shift; curl -fsS --proto =http,https --max-redirs 0 -H @secrets/registry-auth -o local/dump.pgc -- \"$url\"; exec \"$@\"",
            "restore", var.restore_url, "${var.pg_bin}/pg_restore",
          ], [
          "--no-owner", "--no-privileges", "--clean", "--if-exists", "--single-transaction", "--exit-on-error",
          "--dbname=connect_timeout=10", "local/dump.pgc",
        ])
      }

      vault {
        policies    = [var.vault_policy]
        change_mode = "noop"
      }

      template {
        destination = "secrets/pg.env"
        env         = true
        data        = <<-EOT
        {{ with secret "database/creds/${var.role}" }}PGUSER={{ .Data.username | toJSON }}
        PGPASSWORD={{ .Data.password | toJSON }}
        {{ end }}
        EOT
      }

      dynamic "template" {
        for_each = var.registry_token_path == "" ? [] : [1]
        content {
          destination = "secrets/registry-auth"
          perms       = "0600"
          change_mode = "noop"
          data        = "{{ with secret \"${var.registry_token_path}\" }}Authorization: Bearer {{ .Data.data.value }}{{ end }}\n"
        }
      }

      env {
        PGHOST     = var.host
        PGPORT     = var.port
        PGDATABASE = var.database
        PGSSLMODE  = "disable"
      }

      resources {
        cpu    = 100
        memory = 128
      }
    }
  }
}
