#!/usr/bin/env node
import '../dist/cli/arbor.js';
