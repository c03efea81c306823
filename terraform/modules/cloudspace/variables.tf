variable "name" {
  type        = string
  description = "The cloudspace's name."
}

variable "vendor" {
  type        = string
  default     = "on-premises"
  description = "aws, azure, gcp or on-premises."
}

variable "location" {
  type        = string
  description = "Where it is, for people."
}

variable "tenancy" {
  type    = string
  default = "public"
}

variable "region" {
  type        = string
  description = "Its Nomad region."
}

variable "node_pool" {
  type    = string
  default = "default"
}

variable "ingress_domain" {
  type        = string
  description = "Environments answer at <env>.<app>.<org>.<ingress_domain>."
}

variable "ingress_port" {
  type        = number
  default     = 0
  description = "The ingress's HTTP port, when not 80."
}

variable "registry" {
  type        = string
  description = "The cloudspace's image registry, host:port."
}

variable "plan" {
  type = object({
    name                   = string
    public                 = optional(bool, true)
    environments           = number
    instances_per_process  = number
    memory_mb_per_instance = number
    service_instances      = number
    custom_domains         = optional(number, 20)
    upload_mb              = optional(number, 256)
  })
  description = "The plan offered with the cloudspace."
}

variable "ingress" {
  type = object({
    jobspec        = string # path of jobspecs/ingress.nomad.hcl
    image          = string # the wharf-ingress image, not tagged latest
    consul_address = optional(string, "127.0.0.1:8500")
    http_port      = optional(number, 80)
    https_port     = optional(number, 443)
    admin_port     = optional(number, 9102)
    acme_email     = optional(string, "")
  })
  default     = null
  description = "Run wharf-ingress on the cloudspace's ingress nodes as the Nomad system job of jobspecs/ingress.nomad.hcl (with the nomad CLI, NOMAD_ADDR and NOMAD_TOKEN from the environment). Leave null where something else runs it (make dev does)."
}
