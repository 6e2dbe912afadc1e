"""Doctor: is the org or portal set up for the worker, and what exactly is missing?"""
