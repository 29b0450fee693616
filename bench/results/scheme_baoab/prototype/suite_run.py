import sys, runpy; import os; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__))); import proto
sys.argv = ['suite.py'] + sys.argv[1:]
runpy.run_path('bench/suite.py', run_name='__main__')
