SELECT resource_id FROM resources
