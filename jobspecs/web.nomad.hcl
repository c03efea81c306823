# The service job of one Wharf environment: a task group per long-running process (`web`
# receives HTTP and is registered in Consul for the ingress; workers have no port).
#
# Runnable by hand:  nomad job run -var-file=web.vars.hcl web.nomad.hcl
# (wharfd renders the same file with a variables file written by hclwrite, asks Nomad's
# /v1/jobs/parse for the job, and sets the job's ID to the environment's.)
#
# No user value is interpolated into this file. Users' environment variables and process
# commands reach the task from Vault through the `wharf.env` template, which reads them as
# data (never as template text) and writes each value JSON-quoted, so Nomad's own `${...}`
# interpolation never sees them.

variable "region" {
  type        = string
  description = "The cloudspace's Nomad region."
}

variable "datacenters" {
  type    = list(string)
  default = ["*"]
}

variable "node_pool" {
  type        = string
  default     = "default"
  description = "A dedicated cloudspace's node pool."
}

variable "image" {
  type        = string
  description = "The release's image, by digest."
}

variable "network_mode" {
  type        = string
  default     = "bridge"
  description = "The groups' network mode: bridge (each instance in a network namespace of its own on the node's task bridge, its port mapped on the node's address), or host."
}

variable "service_name" {
  type        = string
  description = "The Consul service the ingress routes to."
}

variable "stage" {
  type        = string
  description = "The environment's name (test, live, or custom)."
}

variable "domain" {
  type        = string
  description = "The environment's primary domain."
}

variable "release" {
  type = number
}

variable "vault_policy" {
  type        = string
  description = "The environment's Vault policy (wharf-env.<org>.<app>.<env>)."
}

variable "runtime_path" {
  type        = string
  description = "The KV v2 data path of the environment's runtime configuration."
}

variable "runtime_version" {
  type        = number
  description = "The version of runtime_path this release pins."
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

variable "processes" {
  type = map(object({
    command     = bool   # run WHARF_COMMAND_<NAME> from the runtime configuration, or the image's default
    count       = number
    cpu         = number # MHz
    memory      = number # MB
    http        = bool   # receives HTTP: a port, a check, a service
    health_path = string
  }))
}

variable "update" {
  type = object({
    min_healthy_time  = string
    healthy_deadline  = string
    progress_deadline = string
  })
  default = {
    min_healthy_time  = "10s"
    healthy_deadline  = "3m"
    progress_deadline = "10m"
  }
}

variable "meta" {
  type    = map(string)
  default = {}
}

job "wharf-env" {
  region      = var.region
  datacenters = var.datacenters
  node_pool   = var.node_pool
  type        = "service"
  meta        = var.meta

  dynamic "group" {
    for_each = var.processes
    labels   = [group.key]

    content {
      count = group.value.count

      # Blue/green: a deploy starts as many new instances as there are old ones, waits
      # until every new one passes its checks, then stops the old ones. No moment goes
      # without a healthy instance, and a release that never becomes healthy is reverted
      # with the old instances untouched.
      update {
        canary            = group.value.count
        max_parallel      = max(group.value.count, 1)
        auto_promote      = group.value.count > 0
        health_check      = "checks"
        min_healthy_time  = var.update.min_healthy_time
        healthy_deadline  = var.update.healthy_deadline
        progress_deadline = var.update.progress_deadline
        auto_revert       = true
      }

      # Deregister from Consul, then wait before stopping, so the ingress stops sending
      # requests to an instance before it goes away.
      shutdown_delay = group.value.http ? "3s" : "0s"

      # In bridge mode an instance has a network namespace of its own on the node's task
      # bridge: it reaches only what the node's fence lets through (the cloudspace's
      # database, the outside world), never the node's agents, and its port is mapped on
      # the node's address, where the service is registered and the ingress reaches it.
      network {
        mode = var.network_mode
        dynamic "port" {
          for_each = group.value.http ? [1] : []
          labels   = ["http"]
          content {}
        }
      }

      dynamic "service" {
        for_each = group.value.http ? [1] : []
        content {
          name     = var.service_name
          port     = "http"
          provider = "consul"
          tags     = ["wharf", "release-${var.release}"]
          meta {
            release = var.release
            stage   = var.stage
          }

          check {
            type     = "http"
            path     = group.value.health_path
            interval = "2s"
            timeout  = "2s"
          }
        }
      }

      restart {
        attempts = 3
        interval = "1m"
        delay    = "2s"
        mode     = "fail"
      }

      task "app" {
        driver       = "docker"
        kill_timeout = "10s"

        config {
          image        = var.image
          # In bridge mode the task joins its group's namespace (no Docker network).
          network_mode = var.network_mode == "host" ? "host" : null
          # The command is a runtime value (see the header): the outer shell hands it,
          # unexpanded, to an inner shell, as a Procfile line is run.
          command = group.value.command ? "/bin/sh" : null
          args    = group.value.command ? ["-c", "exec /bin/sh -c \"$WHARF_COMMAND_${upper(replace(group.key, "-", "_"))}\""] : null
        }

        vault {
          policies    = [var.vault_policy]
          change_mode = "restart"
        }

        template {
          destination = "secrets/wharf.env"
          env         = true
          change_mode = "restart"
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
          PORT          = group.value.http ? "$${NOMAD_PORT_http}" : ""
          STAGE         = var.stage
          DOMAIN        = var.domain
          WHARF_RELEASE = var.release
          WHARF_PROCESS = group.key
        }

        resources {
          cpu    = group.value.cpu
          memory = group.value.memory
        }
      }
    }
  }
}
