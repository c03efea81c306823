output "cloudspace" {
  value       = wharf_cloudspace.this.name
  description = "The cloudspace's name, for applications."
}

output "plan" {
  value       = wharf_plan.this.name
  description = "The plan's name, for applications."
}
