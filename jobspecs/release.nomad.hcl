# The release command of one Wharf release (migrations and the like), run once per deploy
# as a batch job before the release's service job is registered. It never restarts and
# is never rescheduled: a failure stops the deploy and the running release keeps serving.
#
# Runnable by hand:  nomad job run -var-file=release.vars.hcl release.nomad.hcl
# Like web.nomad.hcl, it interpolates no user value: the command and the environment
# come from Vault through the wharf.env template.

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

variable "image" {
  type = string
}

variable "network_mode" {
  type        = string
  default     = "bridge"
  description = "The group's network mode: bridge (a network namespace of its own on the node's task bridge) or host."
}

variable "stage" {
  type = string
}

variable "domain" {
  type = string
}

variable "release" {
  type = number
}

variable "vault_policy" {
  type = string
}

variable "runtime_path" {
  type = string
}

variable "runtime_version" {
  type = number
}

variable "services" {
  type = map(object({
    prefix       = string # <PREFIX>_DATABASE_DSN
    database_url = bool   # also DATABASE_URL (the DEFAULT prefix)
    role         = string # the Vault database role issuing the instance's users
    address      = string # the PostgreSQL cluster, host:port
    database     = string
  }))
  default     = {}
  description = "The database service instances whose credentials the task receives, by name."
}

variable "storage" {
  type = map(object({
    prefix   = string # <PREFIX>_STORAGE_DSN
    defaults = bool   # also AWS_* and S3_* (the DEFAULT prefix)
    path     = string # the KV v2 data path of the instance's keys
    bucket   = string
    endpoint = string # the object store's URL
    region   = string
    public   = string # the URL of the bucket's public objects
    dsn_tail = string # the DSN after its keys: "@<bucket>.<host>/?auth=s3v4&..."
  }))
  default     = {}
  description = "The storage service instances whose keys the task receives, by name."
}

variable "process" {
  type        = string
  default     = "release"
  description = "WHARF_PROCESS: release for a release command, run for a one-off command."
}

variable "memory" {
  type    = number
  default = 256
}

variable "meta" {
  type    = map(string)
  default = {}
}

job "wharf-release" {
  region      = var.region
  datacenters = var.datacenters
  node_pool   = var.node_pool
  type        = "batch"
  meta        = var.meta

  group "release" {
    count = 1

    network {
      mode = var.network_mode
    }

    restart {
      attempts = 0
      mode     = "fail"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "release" {
      driver = "docker"

      config {
        image        = var.image
        network_mode = var.network_mode == "host" ? "host" : null
        command      = "/bin/sh"
        # The command runs in a shell of its own. When Wharf set WHARF_OUTPUT_END (hidden
        # from the command), the wrapper then writes that marker on stdout and stderr and
        # waits, a minute at most, until Wharf has read both up to it and sends SIGTERM:
        # Nomad can drop what a task writes just before it exits, and this way nothing is.
        # The task's exit code is the command's.
        args = ["-c", <<-EOT
          end="$WHARF_OUTPUT_END"; unset WHARF_OUTPUT_END
          /bin/sh -c "$WHARF_COMMAND_RELEASE"; rc=$?
          [ -z "$end" ] && exit $rc
          trap 'exit $rc' TERM INT
          echo "$end"; echo "$end" >&2
          sleep 60 & wait $!
          exit $rc
          EOT
        ]
      }

      vault {
        policies    = [var.vault_policy]
        change_mode = "noop"
      }

      template {
        destination = "secrets/wharf.env"
        env         = true
        data        = <<-EOT
        {{ with secret "${var.runtime_path}?version=${var.runtime_version}" }}{{ range $k, $v := .Data.data }}{{ $k }}={{ $v | toJSON }}
        {{ end }}{{ end }}
        EOT
      }

      dynamic "template" {
        for_each = var.services
        content {
          # Each instance gets short-lived credentials of its own from Vault's database
          # engine; the template renews their lease while the task runs, and renders new ones
          # (restarting the task) when the lease can no longer be renewed. Only Wharf's own,
          # validated names are placed in the template text; the credentials are data.
          destination = "secrets/service-${template.key}.env"
          env         = true
          change_mode = "noop"
          data        = <<-EOT
          {{ with secret "database/creds/${template.value.role}" }}{{ $dsn := printf "postgresql://%s:%s@${template.value.address}/${template.value.database}?sslmode=disable" (urlquery .Data.username) (urlquery .Data.password) }}${template.value.prefix}_DATABASE_DSN={{ $dsn | toJSON }}
          %{ if template.value.database_url }DATABASE_URL={{ $dsn | toJSON }}
          %{ endif }{{ end }}
          EOT
        }
      }

      dynamic "template" {
        for_each = var.storage
        content {
          # A storage instance's keys live in Vault KV; the environment's policy reads those of
          # the instances its release uses. Only Wharf's own, validated names and URLs are
          # placed in the template text; the keys are data.
          destination = "secrets/storage-${template.key}.env"
          env         = true
          change_mode = "noop"
          data        = <<-EOT
          {{ with secret "${template.value.path}" }}{{ $key := .Data.data.access_key }}{{ $secret := .Data.data.secret_key }}${template.value.prefix}_STORAGE_DSN={{ print "s3://" (urlquery $key) ":" (urlquery $secret) "${template.value.dsn_tail}" | toJSON }}
          %{ if template.value.defaults }AWS_ACCESS_KEY_ID={{ $key | toJSON }}
          AWS_SECRET_ACCESS_KEY={{ $secret | toJSON }}
          AWS_REGION="${template.value.region}"
          AWS_DEFAULT_REGION="${template.value.region}"
          AWS_ENDPOINT_URL_S3="${template.value.endpoint}"
          S3_ENDPOINT="${template.value.endpoint}"
          S3_REGION="${template.value.region}"
          S3_BUCKET="${template.value.bucket}"
          S3_PUBLIC_URL="${template.value.public}"
          %{ endif }{{ end }}
          EOT
        }
      }

      env {
        STAGE         = var.stage
        DOMAIN        = var.domain
        WHARF_RELEASE = var.release
        WHARF_PROCESS = var.process
      }

      resources {
        cpu    = 100
        memory = var.memory
      }
    }
  }
}
