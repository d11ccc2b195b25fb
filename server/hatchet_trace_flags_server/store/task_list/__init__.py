"""The task list in SQL: the statements (filter, sort, page, count), a task's effective mode as SQL, the
substring search, and the reader that runs them.
"""
