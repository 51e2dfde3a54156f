# CMake generated Testfile for 
# Source directory: /work/main/tools/farmctl
# Build directory: /work/main/build/tools/farmctl
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
