#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Prints Class.test_method for every test method of a unittest file, without
importing it, so that meson registers one test per case."""
import ast
import sys

tree = ast.parse(open(sys.argv[1]).read())
for node in tree.body:
    if isinstance(node, ast.ClassDef):
        for item in node.body:
            if isinstance(item, ast.FunctionDef) and item.name.startswith("test"):
                print("%s.%s" % (node.name, item.name))
