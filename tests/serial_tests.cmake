# Included by ctest (TEST_INCLUDE_FILES) after the GoogleTest tests were discovered: the timing
# verdicts sweep for real and judge the times, so nothing else may share the 2 cores with them.
foreach(t Verdicts.AATwoRealSweepsShowNoRegression Verdicts.DetectionRatesOfInjectedSlowdowns)
  set_tests_properties(${t} PROPERTIES RUN_SERIAL TRUE)
endforeach()
# The Slurm tests run array tasks on every CPU of the one-node CI cluster (tools/slurm_ci.sh).
foreach(t SlurmCluster.ArrayOfThreeShardsMergesToTheUnshardedSweep
          SlurmCluster.KilledTaskIsReportedAndResubmittingItCompletesTheMerge)
  set_tests_properties(${t} PROPERTIES RUN_SERIAL TRUE)
endforeach()
