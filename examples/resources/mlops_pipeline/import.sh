# By function name (alias `live`), or FUNCTION_NAME:ALIAS.
terraform import mlops_pipeline.sales store-sales-predict
