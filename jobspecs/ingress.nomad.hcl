# wharf-ingress as a Nomad system job: one ingress on every client of the cloudspace's
# ingress node pool, on the host's network, holding ports 80 and 443 (by default).
# It reads route records from Consul KV and instances from Consul health; see
# docs/ingress.md. Its Consul ACL token (and, with HTTPS, its certificate cache key)
# come from Vault, never from the job: see the vault_policy variable. Run it by hand
# with, for example:
#
#   nomad job run -var region=local -var image=127.0.0.1:15000/wharf/ingress:v1 \
#     -var consul_address=127.0.0.1:18500 -var http_port=18000 -var https_port=0 \
#     -var admin_port=19102 jobspecs/ingress.nomad.hcl

variable "region" {
  type        = string
  description = "The cloudspace's Nomad region; also the cloudspace whose routes are served."
}

variable "cloudspace" {
  type        = string
  default     = ""
  description = "The cloudspace whose route records to serve; the region when empty."
}

variable "datacenters" {
  type    = list(string)
  default = ["*"]
}

variable "node_pool" {
  type        = string
  default     = "default"
  description = "The node pool of the cloudspace's ingress nodes."
}

variable "image" {
  type        = string
  description = "The wharf-ingress image, by digest or a tag other than latest."
}

variable "consul_address" {
  type        = string
  default     = "127.0.0.1:8500"
  description = "The local Consul agent's HTTP address."
}

variable "routes_prefix" {
  type    = string
  default = "wharf/routes/"
}

variable "http_port" {
  type    = number
  default = 80
}

variable "https_port" {
  type        = number
  default     = 443
  description = "0 serves no HTTPS (and orders no certificate)."
}

variable "admin_port" {
  type        = number
  default     = 9102
  description = "Metrics (/metrics) and health (/health), on the node's address (the client's network_interface), where Consul checks it; tasks on the node's bridge are fenced off from it."
}

variable "acme_directory" {
  type        = string
  default     = "https://acme-v02.api.letsencrypt.org/directory"
  description = "The ACME server's directory URL."
}

variable "acme_email" {
  type    = string
  default = ""
}

variable "vault_policy" {
  type        = string
  default     = "wharf-ingress"
  description = "The Vault policy that reads secret/data/wharf/ingress: consul_token (the ingress's Consul ACL token) and, when https_port is not 0, cache_key (the certificate cache key, 64 hex digits)."
}

locals {
  cloudspace = var.cloudspace != "" ? var.cloudspace : var.region
  https      = var.https_port != 0
}

job "wharf-ingress" {
  region      = var.region
  datacenters = var.datacenters
  node_pool   = var.node_pool
  type        = "system"

  update {
    max_parallel     = 1
    health_check     = "checks"
    min_healthy_time = "5s"
    healthy_deadline = "2m"
  }

  group "ingress" {
    # Leave Consul (and so the load balancer's view) before stopping, then let
    # requests in flight finish: the ingress drains for up to 25 s on SIGTERM.
    shutdown_delay = "5s"

    network {
      port "http" {
        static = var.http_port
      }
      port "admin" {
        static = var.admin_port
      }
      dynamic "port" {
        for_each = local.https ? ["https"] : []
        labels   = [port.value]
        content {
          static = var.https_port
        }
      }
    }

    service {
      name     = "wharf-ingress"
      port     = "http"
      provider = "consul"
      tags     = ["wharf", local.cloudspace]
      check {
        name     = "routes loaded"
        type     = "http"
        port     = "admin"
        path     = "/health"
        interval = "5s"
        timeout  = "2s"
      }
    }

    task "ingress" {
      driver       = "docker"
      kill_signal  = "SIGTERM"
      kill_timeout = "30s"

      config {
        image        = var.image
        network_mode = "host"
        args = concat([
          "-cloudspace", local.cloudspace,
          "-http", ":${var.http_port}",
          # Where Nomad registers the service's check: the node's address, not its
          # loopback (which is not where Consul looks unless the node's network
          # interface is lo).
          "-admin", "$${NOMAD_ADDR_admin}",
          "-consul-addr", var.consul_address,
          "-routes-prefix", var.routes_prefix,
          "-acme-directory", var.acme_directory,
          "-acme-email", var.acme_email,
        ], local.https ? ["-https", ":${var.https_port}"] : [])
      }

      vault {
        policies = [var.vault_policy]
        env      = false
      }

      template {
        data = join("\n", concat(
          ["WHARF_CONSUL_TOKEN={{ with secret \"secret/data/wharf/ingress\" }}{{ .Data.data.consul_token }}{{ end }}"],
          local.https ? ["WHARF_INGRESS_CACHE_KEY={{ with secret \"secret/data/wharf/ingress\" }}{{ .Data.data.cache_key }}{{ end }}"] : []
        ))
        destination = "secrets/ingress.env"
        env         = true
      }

      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
