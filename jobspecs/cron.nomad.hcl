# One cron entry of one Wharf environment: a periodic batch job that never overlaps
# itself. The schedule is a cron expression (validated by wharfd); the command and the
# environment come from Vault through the wharf.env template, as in web.nomad.hcl.
#
# Runnable by hand:  nomad job run -var-file=cron.vars.hcl cron.nomad.hcl

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

variable "name" {
  type        = string
  description = "The cron entry's name: its command is WHARF_COMMAND_CRON_<NAME>."
}

variable "schedule" {
  type = string
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

variable "memory" {
  type    = number
  default = 128
}

variable "meta" {
  type    = map(string)
  default = {}
}

job "wharf-cron" {
  region      = var.region
  datacenters = var.datacenters
  node_pool   = var.node_pool
  type        = "batch"
  meta        = var.meta

  periodic {
    cron             = var.schedule
    prohibit_overlap = true
    time_zone        = "UTC"
  }

  group "cron" {
    count = 1

    network {
      mode = var.network_mode
    }

    restart {
      attempts = 0
      mode     = "fail"
    }

    task "cron" {
      driver = "docker"

      config {
        image        = var.image
        network_mode = var.network_mode == "host" ? "host" : null
        command      = "/bin/sh"
        args         = ["-c", "exec /bin/sh -c \"$WHARF_COMMAND_CRON_${upper(replace(var.name, "-", "_"))}\""]
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
          change_mode = "restart"
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
          change_mode = "restart"
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
        WHARF_PROCESS = "cron-${var.name}"
      }

      resources {
        cpu    = 100
        memory = var.memory
      }
    }
  }
}
