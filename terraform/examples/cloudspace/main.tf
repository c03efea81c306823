# An operator's cloudspace and plan. Against `make dev` (which registers `local` and runs
# its ingress itself) this registers a second cloudspace on the same Nomad region:
#
#   export WHARF_TOKEN=$(cat ~/.local/share/wharf/dev/admin-token)
#   tofu init && tofu apply
#
# On a real cloudspace, set `ingress` (and NOMAD_ADDR, NOMAD_TOKEN) to run wharf-ingress
# on its ingress nodes as the system job of jobspecs/ingress.nomad.hcl.

terraform {
  required_version = ">= 1.11"
  required_providers {
    wharf = {
      source = "wharf-platform/wharf"
    }
  }
}

variable "wharf_addr" {
  type    = string
  default = "http://127.0.0.1:18080"
}

variable "name" {
  type    = string
  default = "local-b"
}

variable "location" {
  type    = string
  default = "this machine"
}

variable "region" {
  type    = string
  default = "local"
}

variable "registry" {
  type    = string
  default = "127.0.0.1:15000"
}

variable "ingress_port" {
  type    = number
  default = 18000
}

variable "ingress" {
  type = object({
    jobspec        = string
    image          = string
    consul_address = optional(string, "127.0.0.1:8500")
    http_port      = optional(number, 80)
    https_port     = optional(number, 443)
    admin_port     = optional(number, 9102)
    acme_email     = optional(string, "")
  })
  default     = null # make dev runs its own ingress
  description = "Run wharf-ingress as the Nomad job of jobspecs/ingress.nomad.hcl (see the module)."
}

provider "wharf" {
  address = var.wharf_addr
}

module "cloudspace" {
  source         = "../../modules/cloudspace"
  name           = var.name
  location       = var.location
  region         = var.region
  ingress_domain = "localhost"
  ingress_port   = var.ingress_port
  registry       = var.registry
  ingress        = var.ingress
  plan = {
    name                   = "${var.name}-small"
    environments           = 4
    instances_per_process  = 3
    memory_mb_per_instance = 256
    service_instances      = 2
  }
}

data "wharf_plan" "small" {
  name       = module.cloudspace.plan
  depends_on = [module.cloudspace] # read once the plan exists
}

output "cloudspace" {
  value = module.cloudspace.cloudspace
}

output "plan_limits" {
  value = {
    environments = data.wharf_plan.small.environments
    memory_mb    = data.wharf_plan.small.memory_mb_per_instance
  }
}
