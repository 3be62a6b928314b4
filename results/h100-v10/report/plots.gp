set terminal pngcairo size 1200,480 font 'sans,10' noenhanced
set output 'cost_0.png'
reset session
set datafile separator ','
set grid
set key top left box opaque
set label 99 'costcurve 2211d534558a7430400145b5be77de8755286fe1 - NVIDIA H100 80GB HBM3 - 2026-12-07T16:16:38+00:00 .. 2026-12-07T16:' at screen 0.005,0.012 font ',8'
set multiplot layout 1,2 title 'Cost per million tokens: NVIDIA H100 SXM 80GB at $1.3/h' margins 0.07,0.98,0.14,0.86 spacing 0.08,0.12
set xlabel 'context position (K tokens)'
set autoscale xfix
set ylabel '$ / 1M tokens'
set yrange [0:*]
set title 'prefill'
plot 'cost_0_0.csv' skip 1 using 1:3:4 with filledcurves fs transparent solid 0.25 noborder lc 1 title 'deepseek-v3.2 (dsa) p10-p90', 'cost_0_0.csv' skip 1 using 1:2 with lines lw 2 lc 1 title 'deepseek-v3.2 (dsa)', 'cost_0_2.csv' skip 1 using 1:3:4 with filledcurves fs transparent solid 0.25 noborder lc 2 title 'deepseek-v3.1-terminus (dense_mla) p10-p90', 'cost_0_2.csv' skip 1 using 1:2 with lines lw 2 lc 2 title 'deepseek-v3.1-terminus (dense_mla)'
set xlabel 'context position (K tokens)'
set autoscale xfix
set ylabel '$ / 1M tokens'
set yrange [0:*]
set title 'decode'
plot 'cost_0_1.csv' skip 1 using 1:3:4 with filledcurves fs transparent solid 0.25 noborder lc 1 title 'deepseek-v3.2 (dsa) p10-p90', 'cost_0_1.csv' skip 1 using 1:2 with lines lw 2 lc 1 title 'deepseek-v3.2 (dsa)', 'cost_0_3.csv' skip 1 using 1:3:4 with filledcurves fs transparent solid 0.25 noborder lc 2 title 'deepseek-v3.1-terminus (dense_mla) p10-p90', 'cost_0_3.csv' skip 1 using 1:2 with lines lw 2 lc 2 title 'deepseek-v3.1-terminus (dense_mla)'
unset multiplot
set output
set terminal svg size 1200,480 font 'sans,10' noenhanced background '#ffffff'
set output 'cost_0.svg'
reset session
set datafile separator ','
set grid
set key top left box opaque
set label 99 'costcurve 2211d534558a7430400145b5be77de8755286fe1 - NVIDIA H100 80GB HBM3 - 2026-12-07T16:16:38+00:00 .. 2026-12-07T16:' at screen 0.005,0.012 font ',8'
set multiplot layout 1,2 title 'Cost per million tokens: NVIDIA H100 SXM 80GB at $1.3/h' margins 0.07,0.98,0.14,0.86 spacing 0.08,0.12
set xlabel 'context position (K tokens)'
set autoscale xfix
set ylabel '$ / 1M tokens'
set yrange [0:*]
set title 'prefill'
plot 'cost_0_0.csv' skip 1 using 1:3:4 with filledcurves fs transparent solid 0.25 noborder lc 1 title 'deepseek-v3.2 (dsa) p10-p90', 'cost_0_0.csv' skip 1 using 1:2 with lines lw 2 lc 1 title 'deepseek-v3.2 (dsa)', 'cost_0_2.csv' skip 1 using 1:3:4 with filledcurves fs transparent solid 0.25 noborder lc 2 title 'deepseek-v3.1-terminus (dense_mla) p10-p90', 'cost_0_2.csv' skip 1 using 1:2 with lines lw 2 lc 2 title 'deepseek-v3.1-terminus (dense_mla)'
set xlabel 'context position (K tokens)'
set autoscale xfix
set ylabel '$ / 1M tokens'
set yrange [0:*]
set title 'decode'
plot 'cost_0_1.csv' skip 1 using 1:3:4 with filledcurves fs transparent solid 0.25 noborder lc 1 title 'deepseek-v3.2 (dsa) p10-p90', 'cost_0_1.csv' skip 1 using 1:2 with lines lw 2 lc 1 title 'deepseek-v3.2 (dsa)', 'cost_0_3.csv' skip 1 using 1:3:4 with filledcurves fs transparent solid 0.25 noborder lc 2 title 'deepseek-v3.1-terminus (dense_mla) p10-p90', 'cost_0_3.csv' skip 1 using 1:2 with lines lw 2 lc 2 title 'deepseek-v3.1-terminus (dense_mla)'
unset multiplot
set output
set terminal pngcairo size 1200,800 font 'sans,10' noenhanced
set output 'breakdown_0.png'
reset session
set datafile separator ','
set grid
set key top left box opaque
set label 99 'costcurve 2211d534558a7430400145b5be77de8755286fe1 - NVIDIA H100 80GB HBM3 - 2026-12-07T16:16:38+00:00 .. 2026-12-07T16:' at screen 0.005,0.012 font ',8'
set multiplot layout 2,2 title 'Where the cost goes: NVIDIA H100 SXM 80GB at $1.3/h' margins 0.07,0.98,0.08,0.90 spacing 0.08,0.12
set xlabel 'context position (K tokens)'
set autoscale xfix
set ylabel '$ / 1M tokens'
set yrange [0:*]
set key top left font ',7'
set title 'deepseek-v3.2 prefill'
plot 'breakdown_0_0.csv' skip 1 using 1:10:9 with filledcurves lc rgb '#7b3294' title 'topk', 'breakdown_0_0.csv' skip 1 using 1:9:8 with filledcurves lc rgb '#009e73' title 'sparse_attention', 'breakdown_0_0.csv' skip 1 using 1:8:7 with filledcurves lc rgb '#56b4e9' title 'projections', 'breakdown_0_0.csv' skip 1 using 1:7:6 with filledcurves lc rgb '#e69f00' title 'moe', 'breakdown_0_0.csv' skip 1 using 1:6:5 with filledcurves lc rgb '#a6761d' title 'lm_head', 'breakdown_0_0.csv' skip 1 using 1:5:4 with filledcurves lc rgb '#0072b2' title 'indexer_projections', 'breakdown_0_0.csv' skip 1 using 1:4:3 with filledcurves lc rgb '#d7301f' title 'indexer', 'breakdown_0_0.csv' skip 1 using 1:3:2 with filledcurves lc rgb '#404040' title 'dense_ffn', 'breakdown_0_0.csv' skip 1 using 1:2:(0) with filledcurves lc rgb '#cc79a7' title 'communication'
set xlabel 'context position (K tokens)'
set autoscale xfix
set ylabel '$ / 1M tokens'
set yrange [0:*]
set key top left font ',7'
set title 'deepseek-v3.2 decode'
plot 'breakdown_0_1.csv' skip 1 using 1:10:9 with filledcurves lc rgb '#7b3294' title 'topk', 'breakdown_0_1.csv' skip 1 using 1:9:8 with filledcurves lc rgb '#009e73' title 'sparse_attention', 'breakdown_0_1.csv' skip 1 using 1:8:7 with filledcurves lc rgb '#56b4e9' title 'projections', 'breakdown_0_1.csv' skip 1 using 1:7:6 with filledcurves lc rgb '#e69f00' title 'moe', 'breakdown_0_1.csv' skip 1 using 1:6:5 with filledcurves lc rgb '#a6761d' title 'lm_head', 'breakdown_0_1.csv' skip 1 using 1:5:4 with filledcurves lc rgb '#0072b2' title 'indexer_projections', 'breakdown_0_1.csv' skip 1 using 1:4:3 with filledcurves lc rgb '#d7301f' title 'indexer', 'breakdown_0_1.csv' skip 1 using 1:3:2 with filledcurves lc rgb '#404040' title 'dense_ffn', 'breakdown_0_1.csv' skip 1 using 1:2:(0) with filledcurves lc rgb '#cc79a7' title 'communication'
set xlabel 'context position (K tokens)'
set autoscale xfix
set ylabel '$ / 1M tokens'
set yrange [0:*]
set key top left font ',7'
set title 'deepseek-v3.1-terminus prefill'
plot 'breakdown_0_2.csv' skip 1 using 1:7:6 with filledcurves lc rgb '#56b4e9' title 'projections', 'breakdown_0_2.csv' skip 1 using 1:6:5 with filledcurves lc rgb '#e69f00' title 'moe', 'breakdown_0_2.csv' skip 1 using 1:5:4 with filledcurves lc rgb '#a6761d' title 'lm_head', 'breakdown_0_2.csv' skip 1 using 1:4:3 with filledcurves lc rgb '#404040' title 'dense_ffn', 'breakdown_0_2.csv' skip 1 using 1:3:2 with filledcurves lc rgb '#e6c229' title 'dense_attention', 'breakdown_0_2.csv' skip 1 using 1:2:(0) with filledcurves lc rgb '#cc79a7' title 'communication'
set xlabel 'context position (K tokens)'
set autoscale xfix
set ylabel '$ / 1M tokens'
set yrange [0:*]
set key top left font ',7'
set title 'deepseek-v3.1-terminus decode'
plot 'breakdown_0_3.csv' skip 1 using 1:7:6 with filledcurves lc rgb '#56b4e9' title 'projections', 'breakdown_0_3.csv' skip 1 using 1:6:5 with filledcurves lc rgb '#e69f00' title 'moe', 'breakdown_0_3.csv' skip 1 using 1:5:4 with filledcurves lc rgb '#a6761d' title 'lm_head', 'breakdown_0_3.csv' skip 1 using 1:4:3 with filledcurves lc rgb '#404040' title 'dense_ffn', 'breakdown_0_3.csv' skip 1 using 1:3:2 with filledcurves lc rgb '#e6c229' title 'dense_attention', 'breakdown_0_3.csv' skip 1 using 1:2:(0) with filledcurves lc rgb '#cc79a7' title 'communication'
unset multiplot
set output
set terminal svg size 1200,800 font 'sans,10' noenhanced background '#ffffff'
set output 'breakdown_0.svg'
reset session
set datafile separator ','
set grid
set key top left box opaque
set label 99 'costcurve 2211d534558a7430400145b5be77de8755286fe1 - NVIDIA H100 80GB HBM3 - 2026-12-07T16:16:38+00:00 .. 2026-12-07T16:' at screen 0.005,0.012 font ',8'
set multiplot layout 2,2 title 'Where the cost goes: NVIDIA H100 SXM 80GB at $1.3/h' margins 0.07,0.98,0.08,0.90 spacing 0.08,0.12
set xlabel 'context position (K tokens)'
set autoscale xfix
set ylabel '$ / 1M tokens'
set yrange [0:*]
set key top left font ',7'
set title 'deepseek-v3.2 prefill'
plot 'breakdown_0_0.csv' skip 1 using 1:10:9 with filledcurves lc rgb '#7b3294' title 'topk', 'breakdown_0_0.csv' skip 1 using 1:9:8 with filledcurves lc rgb '#009e73' title 'sparse_attention', 'breakdown_0_0.csv' skip 1 using 1:8:7 with filledcurves lc rgb '#56b4e9' title 'projections', 'breakdown_0_0.csv' skip 1 using 1:7:6 with filledcurves lc rgb '#e69f00' title 'moe', 'breakdown_0_0.csv' skip 1 using 1:6:5 with filledcurves lc rgb '#a6761d' title 'lm_head', 'breakdown_0_0.csv' skip 1 using 1:5:4 with filledcurves lc rgb '#0072b2' title 'indexer_projections', 'breakdown_0_0.csv' skip 1 using 1:4:3 with filledcurves lc rgb '#d7301f' title 'indexer', 'breakdown_0_0.csv' skip 1 using 1:3:2 with filledcurves lc rgb '#404040' title 'dense_ffn', 'breakdown_0_0.csv' skip 1 using 1:2:(0) with filledcurves lc rgb '#cc79a7' title 'communication'
set xlabel 'context position (K tokens)'
set autoscale xfix
set ylabel '$ / 1M tokens'
set yrange [0:*]
set key top left font ',7'
set title 'deepseek-v3.2 decode'
plot 'breakdown_0_1.csv' skip 1 using 1:10:9 with filledcurves lc rgb '#7b3294' title 'topk', 'breakdown_0_1.csv' skip 1 using 1:9:8 with filledcurves lc rgb '#009e73' title 'sparse_attention', 'breakdown_0_1.csv' skip 1 using 1:8:7 with filledcurves lc rgb '#56b4e9' title 'projections', 'breakdown_0_1.csv' skip 1 using 1:7:6 with filledcurves lc rgb '#e69f00' title 'moe', 'breakdown_0_1.csv' skip 1 using 1:6:5 with filledcurves lc rgb '#a6761d' title 'lm_head', 'breakdown_0_1.csv' skip 1 using 1:5:4 with filledcurves lc rgb '#0072b2' title 'indexer_projections', 'breakdown_0_1.csv' skip 1 using 1:4:3 with filledcurves lc rgb '#d7301f' title 'indexer', 'breakdown_0_1.csv' skip 1 using 1:3:2 with filledcurves lc rgb '#404040' title 'dense_ffn', 'breakdown_0_1.csv' skip 1 using 1:2:(0) with filledcurves lc rgb '#cc79a7' title 'communication'
set xlabel 'context position (K tokens)'
set autoscale xfix
set ylabel '$ / 1M tokens'
set yrange [0:*]
set key top left font ',7'
set title 'deepseek-v3.1-terminus prefill'
plot 'breakdown_0_2.csv' skip 1 using 1:7:6 with filledcurves lc rgb '#56b4e9' title 'projections', 'breakdown_0_2.csv' skip 1 using 1:6:5 with filledcurves lc rgb '#e69f00' title 'moe', 'breakdown_0_2.csv' skip 1 using 1:5:4 with filledcurves lc rgb '#a6761d' title 'lm_head', 'breakdown_0_2.csv' skip 1 using 1:4:3 with filledcurves lc rgb '#404040' title 'dense_ffn', 'breakdown_0_2.csv' skip 1 using 1:3:2 with filledcurves lc rgb '#e6c229' title 'dense_attention', 'breakdown_0_2.csv' skip 1 using 1:2:(0) with filledcurves lc rgb '#cc79a7' title 'communication'
set xlabel 'context position (K tokens)'
set autoscale xfix
set ylabel '$ / 1M tokens'
set yrange [0:*]
set key top left font ',7'
set title 'deepseek-v3.1-terminus decode'
plot 'breakdown_0_3.csv' skip 1 using 1:7:6 with filledcurves lc rgb '#56b4e9' title 'projections', 'breakdown_0_3.csv' skip 1 using 1:6:5 with filledcurves lc rgb '#e69f00' title 'moe', 'breakdown_0_3.csv' skip 1 using 1:5:4 with filledcurves lc rgb '#a6761d' title 'lm_head', 'breakdown_0_3.csv' skip 1 using 1:4:3 with filledcurves lc rgb '#404040' title 'dense_ffn', 'breakdown_0_3.csv' skip 1 using 1:3:2 with filledcurves lc rgb '#e6c229' title 'dense_attention', 'breakdown_0_3.csv' skip 1 using 1:2:(0) with filledcurves lc rgb '#cc79a7' title 'communication'
unset multiplot
set output
set terminal pngcairo size 900,500 font 'sans,10' noenhanced
set output 'speedup_0.png'
reset session
set datafile separator ','
set grid
set key top left box opaque
set label 99 'costcurve 2211d534558a7430400145b5be77de8755286fe1 - NVIDIA H100 80GB HBM3 - 2026-12-07T16:16:38+00:00 .. 2026-12-07T16:' at screen 0.005,0.012 font ',8'
set xlabel 'context position (K tokens)'
set autoscale xfix
set bmargin 5
set key bottom right
set ylabel 'dense cost / sparse cost'
set title 'Sparse (DSA) over dense (MLA) speedup: NVIDIA H100 SXM 80GB at $1.3/h'
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dt 2
set arrow 2 from first 13.5985, graph 0 to first 13.5985, graph 1 nohead lc 1 dt 3
set label 2 'prefill crossover 13.6K' at first 13.5985, graph 0.95 offset 0.5,0
set arrow 3 from first 2.96873, graph 0 to first 2.96873, graph 1 nohead lc 2 dt 3
set label 3 'decode crossover 2.97K' at first 2.96873, graph 0.88 offset 0.5,0
plot 'speedup_0.csv' skip 1 using 1:2 with lines lw 2 lc 1 title 'prefill', '' skip 1 using 1:3 with lines lw 2 lc 2 title 'decode'
unset multiplot
set output
set terminal svg size 900,500 font 'sans,10' noenhanced background '#ffffff'
set output 'speedup_0.svg'
reset session
set datafile separator ','
set grid
set key top left box opaque
set label 99 'costcurve 2211d534558a7430400145b5be77de8755286fe1 - NVIDIA H100 80GB HBM3 - 2026-12-07T16:16:38+00:00 .. 2026-12-07T16:' at screen 0.005,0.012 font ',8'
set xlabel 'context position (K tokens)'
set autoscale xfix
set bmargin 5
set key bottom right
set ylabel 'dense cost / sparse cost'
set title 'Sparse (DSA) over dense (MLA) speedup: NVIDIA H100 SXM 80GB at $1.3/h'
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dt 2
set arrow 2 from first 13.5985, graph 0 to first 13.5985, graph 1 nohead lc 1 dt 3
set label 2 'prefill crossover 13.6K' at first 13.5985, graph 0.95 offset 0.5,0
set arrow 3 from first 2.96873, graph 0 to first 2.96873, graph 1 nohead lc 2 dt 3
set label 3 'decode crossover 2.97K' at first 2.96873, graph 0.88 offset 0.5,0
plot 'speedup_0.csv' skip 1 using 1:2 with lines lw 2 lc 1 title 'prefill', '' skip 1 using 1:3 with lines lw 2 lc 2 title 'decode'
unset multiplot
set output
set terminal pngcairo size 1200,480 font 'sans,10' noenhanced
set output 'cost_1.png'
reset session
set datafile separator ','
set grid
set key top left box opaque
set label 99 'costcurve 2211d534558a7430400145b5be77de8755286fe1 - NVIDIA H100 80GB HBM3 - 2026-12-07T16:16:38+00:00 .. 2026-12-07T16:' at screen 0.005,0.012 font ',8'
set multiplot layout 1,2 title 'Cost per million tokens: NVIDIA H800 SXM 80GB at $2/h (projected from h100-sxm)' margins 0.07,0.98,0.14,0.86 spacing 0.08,0.12
set xlabel 'context position (K tokens)'
set autoscale xfix
set ylabel '$ / 1M tokens'
set yrange [0:*]
set title 'prefill'
plot 'cost_1_0.csv' skip 1 using 1:3:4 with filledcurves fs transparent solid 0.25 noborder lc 1 title 'deepseek-v3.2 (dsa) p10-p90', 'cost_1_0.csv' skip 1 using 1:2 with lines lw 2 lc 1 title 'deepseek-v3.2 (dsa)', 'cost_1_2.csv' skip 1 using 1:3:4 with filledcurves fs transparent solid 0.25 noborder lc 2 title 'deepseek-v3.1-terminus (dense_mla) p10-p90', 'cost_1_2.csv' skip 1 using 1:2 with lines lw 2 lc 2 title 'deepseek-v3.1-terminus (dense_mla)'
set xlabel 'context position (K tokens)'
set autoscale xfix
set ylabel '$ / 1M tokens'
set yrange [0:*]
set title 'decode'
plot 'cost_1_1.csv' skip 1 using 1:3:4 with filledcurves fs transparent solid 0.25 noborder lc 1 title 'deepseek-v3.2 (dsa) p10-p90', 'cost_1_1.csv' skip 1 using 1:2 with lines lw 2 lc 1 title 'deepseek-v3.2 (dsa)', 'cost_1_3.csv' skip 1 using 1:3:4 with filledcurves fs transparent solid 0.25 noborder lc 2 title 'deepseek-v3.1-terminus (dense_mla) p10-p90', 'cost_1_3.csv' skip 1 using 1:2 with lines lw 2 lc 2 title 'deepseek-v3.1-terminus (dense_mla)'
unset multiplot
set output
set terminal svg size 1200,480 font 'sans,10' noenhanced background '#ffffff'
set output 'cost_1.svg'
reset session
set datafile separator ','
set grid
set key top left box opaque
set label 99 'costcurve 2211d534558a7430400145b5be77de8755286fe1 - NVIDIA H100 80GB HBM3 - 2026-12-07T16:16:38+00:00 .. 2026-12-07T16:' at screen 0.005,0.012 font ',8'
set multiplot layout 1,2 title 'Cost per million tokens: NVIDIA H800 SXM 80GB at $2/h (projected from h100-sxm)' margins 0.07,0.98,0.14,0.86 spacing 0.08,0.12
set xlabel 'context position (K tokens)'
set autoscale xfix
set ylabel '$ / 1M tokens'
set yrange [0:*]
set title 'prefill'
plot 'cost_1_0.csv' skip 1 using 1:3:4 with filledcurves fs transparent solid 0.25 noborder lc 1 title 'deepseek-v3.2 (dsa) p10-p90', 'cost_1_0.csv' skip 1 using 1:2 with lines lw 2 lc 1 title 'deepseek-v3.2 (dsa)', 'cost_1_2.csv' skip 1 using 1:3:4 with filledcurves fs transparent solid 0.25 noborder lc 2 title 'deepseek-v3.1-terminus (dense_mla) p10-p90', 'cost_1_2.csv' skip 1 using 1:2 with lines lw 2 lc 2 title 'deepseek-v3.1-terminus (dense_mla)'
set xlabel 'context position (K tokens)'
set autoscale xfix
set ylabel '$ / 1M tokens'
set yrange [0:*]
set title 'decode'
plot 'cost_1_1.csv' skip 1 using 1:3:4 with filledcurves fs transparent solid 0.25 noborder lc 1 title 'deepseek-v3.2 (dsa) p10-p90', 'cost_1_1.csv' skip 1 using 1:2 with lines lw 2 lc 1 title 'deepseek-v3.2 (dsa)', 'cost_1_3.csv' skip 1 using 1:3:4 with filledcurves fs transparent solid 0.25 noborder lc 2 title 'deepseek-v3.1-terminus (dense_mla) p10-p90', 'cost_1_3.csv' skip 1 using 1:2 with lines lw 2 lc 2 title 'deepseek-v3.1-terminus (dense_mla)'
unset multiplot
set output
set terminal pngcairo size 1200,800 font 'sans,10' noenhanced
set output 'breakdown_1.png'
reset session
set datafile separator ','
set grid
set key top left box opaque
set label 99 'costcurve 2211d534558a7430400145b5be77de8755286fe1 - NVIDIA H100 80GB HBM3 - 2026-12-07T16:16:38+00:00 .. 2026-12-07T16:' at screen 0.005,0.012 font ',8'
set multiplot layout 2,2 title 'Where the cost goes: NVIDIA H800 SXM 80GB at $2/h (projected from h100-sxm)' margins 0.07,0.98,0.08,0.90 spacing 0.08,0.12
set xlabel 'context position (K tokens)'
set autoscale xfix
set ylabel '$ / 1M tokens'
set yrange [0:*]
set key top left font ',7'
set title 'deepseek-v3.2 prefill'
plot 'breakdown_1_0.csv' skip 1 using 1:10:9 with filledcurves lc rgb '#7b3294' title 'topk', 'breakdown_1_0.csv' skip 1 using 1:9:8 with filledcurves lc rgb '#009e73' title 'sparse_attention', 'breakdown_1_0.csv' skip 1 using 1:8:7 with filledcurves lc rgb '#56b4e9' title 'projections', 'breakdown_1_0.csv' skip 1 using 1:7:6 with filledcurves lc rgb '#e69f00' title 'moe', 'breakdown_1_0.csv' skip 1 using 1:6:5 with filledcurves lc rgb '#a6761d' title 'lm_head', 'breakdown_1_0.csv' skip 1 using 1:5:4 with filledcurves lc rgb '#0072b2' title 'indexer_projections', 'breakdown_1_0.csv' skip 1 using 1:4:3 with filledcurves lc rgb '#d7301f' title 'indexer', 'breakdown_1_0.csv' skip 1 using 1:3:2 with filledcurves lc rgb '#404040' title 'dense_ffn', 'breakdown_1_0.csv' skip 1 using 1:2:(0) with filledcurves lc rgb '#cc79a7' title 'communication'
set xlabel 'context position (K tokens)'
set autoscale xfix
set ylabel '$ / 1M tokens'
set yrange [0:*]
set key top left font ',7'
set title 'deepseek-v3.2 decode'
plot 'breakdown_1_1.csv' skip 1 using 1:10:9 with filledcurves lc rgb '#7b3294' title 'topk', 'breakdown_1_1.csv' skip 1 using 1:9:8 with filledcurves lc rgb '#009e73' title 'sparse_attention', 'breakdown_1_1.csv' skip 1 using 1:8:7 with filledcurves lc rgb '#56b4e9' title 'projections', 'breakdown_1_1.csv' skip 1 using 1:7:6 with filledcurves lc rgb '#e69f00' title 'moe', 'breakdown_1_1.csv' skip 1 using 1:6:5 with filledcurves lc rgb '#a6761d' title 'lm_head', 'breakdown_1_1.csv' skip 1 using 1:5:4 with filledcurves lc rgb '#0072b2' title 'indexer_projections', 'breakdown_1_1.csv' skip 1 using 1:4:3 with filledcurves lc rgb '#d7301f' title 'indexer', 'breakdown_1_1.csv' skip 1 using 1:3:2 with filledcurves lc rgb '#404040' title 'dense_ffn', 'breakdown_1_1.csv' skip 1 using 1:2:(0) with filledcurves lc rgb '#cc79a7' title 'communication'
set xlabel 'context position (K tokens)'
set autoscale xfix
set ylabel '$ / 1M tokens'
set yrange [0:*]
set key top left font ',7'
set title 'deepseek-v3.1-terminus prefill'
plot 'breakdown_1_2.csv' skip 1 using 1:7:6 with filledcurves lc rgb '#56b4e9' title 'projections', 'breakdown_1_2.csv' skip 1 using 1:6:5 with filledcurves lc rgb '#e69f00' title 'moe', 'breakdown_1_2.csv' skip 1 using 1:5:4 with filledcurves lc rgb '#a6761d' title 'lm_head', 'breakdown_1_2.csv' skip 1 using 1:4:3 with filledcurves lc rgb '#404040' title 'dense_ffn', 'breakdown_1_2.csv' skip 1 using 1:3:2 with filledcurves lc rgb '#e6c229' title 'dense_attention', 'breakdown_1_2.csv' skip 1 using 1:2:(0) with filledcurves lc rgb '#cc79a7' title 'communication'
set xlabel 'context position (K tokens)'
set autoscale xfix
set ylabel '$ / 1M tokens'
set yrange [0:*]
set key top left font ',7'
set title 'deepseek-v3.1-terminus decode'
plot 'breakdown_1_3.csv' skip 1 using 1:7:6 with filledcurves lc rgb '#56b4e9' title 'projections', 'breakdown_1_3.csv' skip 1 using 1:6:5 with filledcurves lc rgb '#e69f00' title 'moe', 'breakdown_1_3.csv' skip 1 using 1:5:4 with filledcurves lc rgb '#a6761d' title 'lm_head', 'breakdown_1_3.csv' skip 1 using 1:4:3 with filledcurves lc rgb '#404040' title 'dense_ffn', 'breakdown_1_3.csv' skip 1 using 1:3:2 with filledcurves lc rgb '#e6c229' title 'dense_attention', 'breakdown_1_3.csv' skip 1 using 1:2:(0) with filledcurves lc rgb '#cc79a7' title 'communication'
unset multiplot
set output
set terminal svg size 1200,800 font 'sans,10' noenhanced background '#ffffff'
set output 'breakdown_1.svg'
reset session
set datafile separator ','
set grid
set key top left box opaque
set label 99 'costcurve 2211d534558a7430400145b5be77de8755286fe1 - NVIDIA H100 80GB HBM3 - 2026-12-07T16:16:38+00:00 .. 2026-12-07T16:' at screen 0.005,0.012 font ',8'
set multiplot layout 2,2 title 'Where the cost goes: NVIDIA H800 SXM 80GB at $2/h (projected from h100-sxm)' margins 0.07,0.98,0.08,0.90 spacing 0.08,0.12
set xlabel 'context position (K tokens)'
set autoscale xfix
set ylabel '$ / 1M tokens'
set yrange [0:*]
set key top left font ',7'
set title 'deepseek-v3.2 prefill'
plot 'breakdown_1_0.csv' skip 1 using 1:10:9 with filledcurves lc rgb '#7b3294' title 'topk', 'breakdown_1_0.csv' skip 1 using 1:9:8 with filledcurves lc rgb '#009e73' title 'sparse_attention', 'breakdown_1_0.csv' skip 1 using 1:8:7 with filledcurves lc rgb '#56b4e9' title 'projections', 'breakdown_1_0.csv' skip 1 using 1:7:6 with filledcurves lc rgb '#e69f00' title 'moe', 'breakdown_1_0.csv' skip 1 using 1:6:5 with filledcurves lc rgb '#a6761d' title 'lm_head', 'breakdown_1_0.csv' skip 1 using 1:5:4 with filledcurves lc rgb '#0072b2' title 'indexer_projections', 'breakdown_1_0.csv' skip 1 using 1:4:3 with filledcurves lc rgb '#d7301f' title 'indexer', 'breakdown_1_0.csv' skip 1 using 1:3:2 with filledcurves lc rgb '#404040' title 'dense_ffn', 'breakdown_1_0.csv' skip 1 using 1:2:(0) with filledcurves lc rgb '#cc79a7' title 'communication'
set xlabel 'context position (K tokens)'
set autoscale xfix
set ylabel '$ / 1M tokens'
set yrange [0:*]
set key top left font ',7'
set title 'deepseek-v3.2 decode'
plot 'breakdown_1_1.csv' skip 1 using 1:10:9 with filledcurves lc rgb '#7b3294' title 'topk', 'breakdown_1_1.csv' skip 1 using 1:9:8 with filledcurves lc rgb '#009e73' title 'sparse_attention', 'breakdown_1_1.csv' skip 1 using 1:8:7 with filledcurves lc rgb '#56b4e9' title 'projections', 'breakdown_1_1.csv' skip 1 using 1:7:6 with filledcurves lc rgb '#e69f00' title 'moe', 'breakdown_1_1.csv' skip 1 using 1:6:5 with filledcurves lc rgb '#a6761d' title 'lm_head', 'breakdown_1_1.csv' skip 1 using 1:5:4 with filledcurves lc rgb '#0072b2' title 'indexer_projections', 'breakdown_1_1.csv' skip 1 using 1:4:3 with filledcurves lc rgb '#d7301f' title 'indexer', 'breakdown_1_1.csv' skip 1 using 1:3:2 with filledcurves lc rgb '#404040' title 'dense_ffn', 'breakdown_1_1.csv' skip 1 using 1:2:(0) with filledcurves lc rgb '#cc79a7' title 'communication'
set xlabel 'context position (K tokens)'
set autoscale xfix
set ylabel '$ / 1M tokens'
set yrange [0:*]
set key top left font ',7'
set title 'deepseek-v3.1-terminus prefill'
plot 'breakdown_1_2.csv' skip 1 using 1:7:6 with filledcurves lc rgb '#56b4e9' title 'projections', 'breakdown_1_2.csv' skip 1 using 1:6:5 with filledcurves lc rgb '#e69f00' title 'moe', 'breakdown_1_2.csv' skip 1 using 1:5:4 with filledcurves lc rgb '#a6761d' title 'lm_head', 'breakdown_1_2.csv' skip 1 using 1:4:3 with filledcurves lc rgb '#404040' title 'dense_ffn', 'breakdown_1_2.csv' skip 1 using 1:3:2 with filledcurves lc rgb '#e6c229' title 'dense_attention', 'breakdown_1_2.csv' skip 1 using 1:2:(0) with filledcurves lc rgb '#cc79a7' title 'communication'
set xlabel 'context position (K tokens)'
set autoscale xfix
set ylabel '$ / 1M tokens'
set yrange [0:*]
set key top left font ',7'
set title 'deepseek-v3.1-terminus decode'
plot 'breakdown_1_3.csv' skip 1 using 1:7:6 with filledcurves lc rgb '#56b4e9' title 'projections', 'breakdown_1_3.csv' skip 1 using 1:6:5 with filledcurves lc rgb '#e69f00' title 'moe', 'breakdown_1_3.csv' skip 1 using 1:5:4 with filledcurves lc rgb '#a6761d' title 'lm_head', 'breakdown_1_3.csv' skip 1 using 1:4:3 with filledcurves lc rgb '#404040' title 'dense_ffn', 'breakdown_1_3.csv' skip 1 using 1:3:2 with filledcurves lc rgb '#e6c229' title 'dense_attention', 'breakdown_1_3.csv' skip 1 using 1:2:(0) with filledcurves lc rgb '#cc79a7' title 'communication'
unset multiplot
set output
set terminal pngcairo size 900,500 font 'sans,10' noenhanced
set output 'speedup_1.png'
reset session
set datafile separator ','
set grid
set key top left box opaque
set label 99 'costcurve 2211d534558a7430400145b5be77de8755286fe1 - NVIDIA H100 80GB HBM3 - 2026-12-07T16:16:38+00:00 .. 2026-12-07T16:' at screen 0.005,0.012 font ',8'
set xlabel 'context position (K tokens)'
set autoscale xfix
set bmargin 5
set key bottom right
set ylabel 'dense cost / sparse cost'
set title 'Sparse (DSA) over dense (MLA) speedup: NVIDIA H800 SXM 80GB at $2/h (projected from h100-sxm)'
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dt 2
set arrow 2 from first 13.5292, graph 0 to first 13.5292, graph 1 nohead lc 1 dt 3
set label 2 'prefill crossover 13.5K' at first 13.5292, graph 0.95 offset 0.5,0
set arrow 3 from first 2.95457, graph 0 to first 2.95457, graph 1 nohead lc 2 dt 3
set label 3 'decode crossover 2.95K' at first 2.95457, graph 0.88 offset 0.5,0
plot 'speedup_1.csv' skip 1 using 1:2 with lines lw 2 lc 1 title 'prefill', '' skip 1 using 1:3 with lines lw 2 lc 2 title 'decode'
unset multiplot
set output
set terminal svg size 900,500 font 'sans,10' noenhanced background '#ffffff'
set output 'speedup_1.svg'
reset session
set datafile separator ','
set grid
set key top left box opaque
set label 99 'costcurve 2211d534558a7430400145b5be77de8755286fe1 - NVIDIA H100 80GB HBM3 - 2026-12-07T16:16:38+00:00 .. 2026-12-07T16:' at screen 0.005,0.012 font ',8'
set xlabel 'context position (K tokens)'
set autoscale xfix
set bmargin 5
set key bottom right
set ylabel 'dense cost / sparse cost'
set title 'Sparse (DSA) over dense (MLA) speedup: NVIDIA H800 SXM 80GB at $2/h (projected from h100-sxm)'
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dt 2
set arrow 2 from first 13.5292, graph 0 to first 13.5292, graph 1 nohead lc 1 dt 3
set label 2 'prefill crossover 13.5K' at first 13.5292, graph 0.95 offset 0.5,0
set arrow 3 from first 2.95457, graph 0 to first 2.95457, graph 1 nohead lc 2 dt 3
set label 3 'decode crossover 2.95K' at first 2.95457, graph 0.88 offset 0.5,0
plot 'speedup_1.csv' skip 1 using 1:2 with lines lw 2 lc 1 title 'prefill', '' skip 1 using 1:3 with lines lw 2 lc 2 title 'decode'
unset multiplot
set output
set terminal pngcairo size 1300,640 font 'sans,10' noenhanced
set output 'hardware.png'
reset session
set datafile separator ','
set grid
set key top left box opaque
set label 99 'costcurve 2211d534558a7430400145b5be77de8755286fe1 - NVIDIA H100 80GB HBM3 - 2026-12-07T16:16:38+00:00 .. 2026-12-07T16:' at screen 0.005,0.012 font ',8'
set multiplot layout 1,2 title 'Hardware comparison' margins 0.07,0.98,0.34,0.92 spacing 0.08,0.1
set logscale y
set xlabel 'context position (K tokens)'
set autoscale xfix
set ylabel '$ / 1M tokens (log)'
set key at screen 0.5,0.06 center bottom maxrows 3 font ',9' box
set title 'prefill'
plot 'cost_0_0.csv' skip 1 using 1:2 with lines lw 2 lc 1 dt 1 title 'deepseek-v3.2 on h100-sxm at $1.3/h', 'cost_0_2.csv' skip 1 using 1:2 with lines lw 2 lc 2 dt 2 title 'deepseek-v3.1-terminus on h100-sxm at $1.3/h', 'cost_1_0.csv' skip 1 using 1:2 with lines lw 2 lc 3 dt 1 title 'deepseek-v3.2 on h800-sxm at $2/h, projected', 'cost_1_2.csv' skip 1 using 1:2 with lines lw 2 lc 4 dt 2 title 'deepseek-v3.1-terminus on h800-sxm at $2/h, projected'
set xlabel 'context position (K tokens)'
set autoscale xfix
set ylabel '$ / 1M tokens (log)'
unset key
set title 'decode'
plot 'cost_0_1.csv' skip 1 using 1:2 with lines lw 2 lc 1 dt 1 title 'deepseek-v3.2 on h100-sxm at $1.3/h', 'cost_0_3.csv' skip 1 using 1:2 with lines lw 2 lc 2 dt 2 title 'deepseek-v3.1-terminus on h100-sxm at $1.3/h', 'cost_1_1.csv' skip 1 using 1:2 with lines lw 2 lc 3 dt 1 title 'deepseek-v3.2 on h800-sxm at $2/h, projected', 'cost_1_3.csv' skip 1 using 1:2 with lines lw 2 lc 4 dt 2 title 'deepseek-v3.1-terminus on h800-sxm at $2/h, projected'
unset multiplot
set output
set terminal svg size 1300,640 font 'sans,10' noenhanced background '#ffffff'
set output 'hardware.svg'
reset session
set datafile separator ','
set grid
set key top left box opaque
set label 99 'costcurve 2211d534558a7430400145b5be77de8755286fe1 - NVIDIA H100 80GB HBM3 - 2026-12-07T16:16:38+00:00 .. 2026-12-07T16:' at screen 0.005,0.012 font ',8'
set multiplot layout 1,2 title 'Hardware comparison' margins 0.07,0.98,0.34,0.92 spacing 0.08,0.1
set logscale y
set xlabel 'context position (K tokens)'
set autoscale xfix
set ylabel '$ / 1M tokens (log)'
set key at screen 0.5,0.06 center bottom maxrows 3 font ',9' box
set title 'prefill'
plot 'cost_0_0.csv' skip 1 using 1:2 with lines lw 2 lc 1 dt 1 title 'deepseek-v3.2 on h100-sxm at $1.3/h', 'cost_0_2.csv' skip 1 using 1:2 with lines lw 2 lc 2 dt 2 title 'deepseek-v3.1-terminus on h100-sxm at $1.3/h', 'cost_1_0.csv' skip 1 using 1:2 with lines lw 2 lc 3 dt 1 title 'deepseek-v3.2 on h800-sxm at $2/h, projected', 'cost_1_2.csv' skip 1 using 1:2 with lines lw 2 lc 4 dt 2 title 'deepseek-v3.1-terminus on h800-sxm at $2/h, projected'
set xlabel 'context position (K tokens)'
set autoscale xfix
set ylabel '$ / 1M tokens (log)'
unset key
set title 'decode'
plot 'cost_0_1.csv' skip 1 using 1:2 with lines lw 2 lc 1 dt 1 title 'deepseek-v3.2 on h100-sxm at $1.3/h', 'cost_0_3.csv' skip 1 using 1:2 with lines lw 2 lc 2 dt 2 title 'deepseek-v3.1-terminus on h100-sxm at $1.3/h', 'cost_1_1.csv' skip 1 using 1:2 with lines lw 2 lc 3 dt 1 title 'deepseek-v3.2 on h800-sxm at $2/h, projected', 'cost_1_3.csv' skip 1 using 1:2 with lines lw 2 lc 4 dt 2 title 'deepseek-v3.1-terminus on h800-sxm at $2/h, projected'
unset multiplot
set output
set terminal pngcairo size 1400,820 font 'sans,10' noenhanced
set output 'kernels_0.png'
reset session
set datafile separator ','
set grid
set key top left box opaque
set label 99 'costcurve 2211d534558a7430400145b5be77de8755286fe1 - NVIDIA H100 80GB HBM3 - 2026-12-07T16:17:27+00:00' at screen 0.005,0.012 font ',8'
set multiplot layout 2,3 title 'Kernel throughput vs context: deepseek-v3.2 - costcurve 2211d534558a7430400145b5be77de8755286fe1 - NVIDIA H100 80GB HBM3' margins 0.07,0.98,0.08,0.90 spacing 0.08,0.12
set xlabel 'context position (K tokens)'
set autoscale xfix
set logscale x 2
set key bottom right font ',7'
set title 'indexer'
set ylabel 'TFLOP/s'
set yrange [0:1615]
plot 1405 with lines lw 2 lc rgb '#cc0000' title 'fp8_e4m3 GEMM ceiling 1.4e+03', 'kernels_0_0.csv' skip 1 using 1:3 with linespoints title 'indexer/decode/B1/sq2/fp8_e4m3', 'kernels_0_1.csv' skip 1 using 1:3 with linespoints title 'indexer/decode/B32/sq2/fp8_e4m3', 'kernels_0_2.csv' skip 1 using 1:3 with linespoints title 'indexer/prefill/B1/sq512/fp8_e4m3'
set xlabel 'context position (K tokens)'
set autoscale xfix
set logscale x 2
set key bottom right font ',7'
set title 'topk'
set ylabel 'GB/s'
set yrange [0:3203]
plot 2785 with lines lw 2 lc rgb '#cc0000' title 'copy bandwidth 2.79e+03', 'kernels_0_8.csv' skip 1 using 1:4 with linespoints title 'topk/decode/B1/sq2/k2048/f32', 'kernels_0_9.csv' skip 1 using 1:4 with linespoints title 'topk/decode/B32/sq2/k2048/f32', 'kernels_0_10.csv' skip 1 using 1:4 with linespoints title 'topk/prefill/B1/sq512/k2048/f32'
set xlabel 'context position (K tokens)'
set autoscale xfix
set logscale x 2
set key bottom right font ',7'
set title 'sparse_prefill'
set ylabel 'TFLOP/s'
set yrange [0:886.1]
plot 770.5 with lines lw 2 lc rgb '#cc0000' title 'bf16 GEMM ceiling 771', 'kernels_0_7.csv' skip 1 using 1:3 with linespoints title 'sparse_prefill/prefill/B1/sq512/k2048/bf16'
set xlabel 'context position (K tokens)'
set autoscale xfix
set logscale x 2
set key bottom right font ',7'
set title 'sparse_decode'
set ylabel 'TFLOP/s'
set yrange [0:886.1]
plot 770.5 with lines lw 2 lc rgb '#cc0000' title 'bf16 GEMM ceiling 771', 'kernels_0_3.csv' skip 1 using 1:3 with linespoints title 'sparse_decode/decode/B1/sq2/k2048/bf16', 'kernels_0_4.csv' skip 1 using 1:3 with linespoints title 'sparse_decode/decode/B1/sq2/k2048/fp8_e4m3', 'kernels_0_5.csv' skip 1 using 1:3 with linespoints title 'sparse_decode/decode/B32/sq2/k2048/bf16', 'kernels_0_6.csv' skip 1 using 1:3 with linespoints title 'sparse_decode/decode/B32/sq2/k2048/fp8_e4m3'
unset multiplot
set output
set terminal svg size 1400,820 font 'sans,10' noenhanced background '#ffffff'
set output 'kernels_0.svg'
reset session
set datafile separator ','
set grid
set key top left box opaque
set label 99 'costcurve 2211d534558a7430400145b5be77de8755286fe1 - NVIDIA H100 80GB HBM3 - 2026-12-07T16:17:27+00:00' at screen 0.005,0.012 font ',8'
set multiplot layout 2,3 title 'Kernel throughput vs context: deepseek-v3.2 - costcurve 2211d534558a7430400145b5be77de8755286fe1 - NVIDIA H100 80GB HBM3' margins 0.07,0.98,0.08,0.90 spacing 0.08,0.12
set xlabel 'context position (K tokens)'
set autoscale xfix
set logscale x 2
set key bottom right font ',7'
set title 'indexer'
set ylabel 'TFLOP/s'
set yrange [0:1615]
plot 1405 with lines lw 2 lc rgb '#cc0000' title 'fp8_e4m3 GEMM ceiling 1.4e+03', 'kernels_0_0.csv' skip 1 using 1:3 with linespoints title 'indexer/decode/B1/sq2/fp8_e4m3', 'kernels_0_1.csv' skip 1 using 1:3 with linespoints title 'indexer/decode/B32/sq2/fp8_e4m3', 'kernels_0_2.csv' skip 1 using 1:3 with linespoints title 'indexer/prefill/B1/sq512/fp8_e4m3'
set xlabel 'context position (K tokens)'
set autoscale xfix
set logscale x 2
set key bottom right font ',7'
set title 'topk'
set ylabel 'GB/s'
set yrange [0:3203]
plot 2785 with lines lw 2 lc rgb '#cc0000' title 'copy bandwidth 2.79e+03', 'kernels_0_8.csv' skip 1 using 1:4 with linespoints title 'topk/decode/B1/sq2/k2048/f32', 'kernels_0_9.csv' skip 1 using 1:4 with linespoints title 'topk/decode/B32/sq2/k2048/f32', 'kernels_0_10.csv' skip 1 using 1:4 with linespoints title 'topk/prefill/B1/sq512/k2048/f32'
set xlabel 'context position (K tokens)'
set autoscale xfix
set logscale x 2
set key bottom right font ',7'
set title 'sparse_prefill'
set ylabel 'TFLOP/s'
set yrange [0:886.1]
plot 770.5 with lines lw 2 lc rgb '#cc0000' title 'bf16 GEMM ceiling 771', 'kernels_0_7.csv' skip 1 using 1:3 with linespoints title 'sparse_prefill/prefill/B1/sq512/k2048/bf16'
set xlabel 'context position (K tokens)'
set autoscale xfix
set logscale x 2
set key bottom right font ',7'
set title 'sparse_decode'
set ylabel 'TFLOP/s'
set yrange [0:886.1]
plot 770.5 with lines lw 2 lc rgb '#cc0000' title 'bf16 GEMM ceiling 771', 'kernels_0_3.csv' skip 1 using 1:3 with linespoints title 'sparse_decode/decode/B1/sq2/k2048/bf16', 'kernels_0_4.csv' skip 1 using 1:3 with linespoints title 'sparse_decode/decode/B1/sq2/k2048/fp8_e4m3', 'kernels_0_5.csv' skip 1 using 1:3 with linespoints title 'sparse_decode/decode/B32/sq2/k2048/bf16', 'kernels_0_6.csv' skip 1 using 1:3 with linespoints title 'sparse_decode/decode/B32/sq2/k2048/fp8_e4m3'
unset multiplot
set output
set terminal pngcairo size 1400,820 font 'sans,10' noenhanced
set output 'kernels_0_time.png'
reset session
set datafile separator ','
set grid
set key top left box opaque
set label 99 'costcurve 2211d534558a7430400145b5be77de8755286fe1 - NVIDIA H100 80GB HBM3 - 2026-12-07T16:17:27+00:00' at screen 0.005,0.012 font ',8'
set multiplot layout 2,3 title 'Kernel time vs context: deepseek-v3.2 - costcurve 2211d534558a7430400145b5be77de8755286fe1 - NVIDIA H100 80GB HBM3 - 202' margins 0.07,0.98,0.08,0.90 spacing 0.08,0.12
set xlabel 'context position (K tokens)'
set autoscale xfix
set logscale xy
set key top left font ',7'
set title 'indexer'
set ylabel 'seconds per run (log)'
plot 'kernels_0_0.csv' skip 1 using 1:2 with linespoints title 'indexer/decode/B1/sq2/fp8_e4m3', 'kernels_0_1.csv' skip 1 using 1:2 with linespoints title 'indexer/decode/B32/sq2/fp8_e4m3', 'kernels_0_2.csv' skip 1 using 1:2 with linespoints title 'indexer/prefill/B1/sq512/fp8_e4m3'
set xlabel 'context position (K tokens)'
set autoscale xfix
set logscale xy
set key top left font ',7'
set title 'topk'
set ylabel 'seconds per run (log)'
plot 'kernels_0_8.csv' skip 1 using 1:2 with linespoints title 'topk/decode/B1/sq2/k2048/f32', 'kernels_0_9.csv' skip 1 using 1:2 with linespoints title 'topk/decode/B32/sq2/k2048/f32', 'kernels_0_10.csv' skip 1 using 1:2 with linespoints title 'topk/prefill/B1/sq512/k2048/f32'
set xlabel 'context position (K tokens)'
set autoscale xfix
set logscale xy
set key top left font ',7'
set title 'sparse_prefill'
set ylabel 'seconds per run (log)'
plot 'kernels_0_7.csv' skip 1 using 1:2 with linespoints title 'sparse_prefill/prefill/B1/sq512/k2048/bf16'
set xlabel 'context position (K tokens)'
set autoscale xfix
set logscale xy
set key top left font ',7'
set title 'sparse_decode'
set ylabel 'seconds per run (log)'
plot 'kernels_0_3.csv' skip 1 using 1:2 with linespoints title 'sparse_decode/decode/B1/sq2/k2048/bf16', 'kernels_0_4.csv' skip 1 using 1:2 with linespoints title 'sparse_decode/decode/B1/sq2/k2048/fp8_e4m3', 'kernels_0_5.csv' skip 1 using 1:2 with linespoints title 'sparse_decode/decode/B32/sq2/k2048/bf16', 'kernels_0_6.csv' skip 1 using 1:2 with linespoints title 'sparse_decode/decode/B32/sq2/k2048/fp8_e4m3'
unset multiplot
set output
set terminal svg size 1400,820 font 'sans,10' noenhanced background '#ffffff'
set output 'kernels_0_time.svg'
reset session
set datafile separator ','
set grid
set key top left box opaque
set label 99 'costcurve 2211d534558a7430400145b5be77de8755286fe1 - NVIDIA H100 80GB HBM3 - 2026-12-07T16:17:27+00:00' at screen 0.005,0.012 font ',8'
set multiplot layout 2,3 title 'Kernel time vs context: deepseek-v3.2 - costcurve 2211d534558a7430400145b5be77de8755286fe1 - NVIDIA H100 80GB HBM3 - 202' margins 0.07,0.98,0.08,0.90 spacing 0.08,0.12
set xlabel 'context position (K tokens)'
set autoscale xfix
set logscale xy
set key top left font ',7'
set title 'indexer'
set ylabel 'seconds per run (log)'
plot 'kernels_0_0.csv' skip 1 using 1:2 with linespoints title 'indexer/decode/B1/sq2/fp8_e4m3', 'kernels_0_1.csv' skip 1 using 1:2 with linespoints title 'indexer/decode/B32/sq2/fp8_e4m3', 'kernels_0_2.csv' skip 1 using 1:2 with linespoints title 'indexer/prefill/B1/sq512/fp8_e4m3'
set xlabel 'context position (K tokens)'
set autoscale xfix
set logscale xy
set key top left font ',7'
set title 'topk'
set ylabel 'seconds per run (log)'
plot 'kernels_0_8.csv' skip 1 using 1:2 with linespoints title 'topk/decode/B1/sq2/k2048/f32', 'kernels_0_9.csv' skip 1 using 1:2 with linespoints title 'topk/decode/B32/sq2/k2048/f32', 'kernels_0_10.csv' skip 1 using 1:2 with linespoints title 'topk/prefill/B1/sq512/k2048/f32'
set xlabel 'context position (K tokens)'
set autoscale xfix
set logscale xy
set key top left font ',7'
set title 'sparse_prefill'
set ylabel 'seconds per run (log)'
plot 'kernels_0_7.csv' skip 1 using 1:2 with linespoints title 'sparse_prefill/prefill/B1/sq512/k2048/bf16'
set xlabel 'context position (K tokens)'
set autoscale xfix
set logscale xy
set key top left font ',7'
set title 'sparse_decode'
set ylabel 'seconds per run (log)'
plot 'kernels_0_3.csv' skip 1 using 1:2 with linespoints title 'sparse_decode/decode/B1/sq2/k2048/bf16', 'kernels_0_4.csv' skip 1 using 1:2 with linespoints title 'sparse_decode/decode/B1/sq2/k2048/fp8_e4m3', 'kernels_0_5.csv' skip 1 using 1:2 with linespoints title 'sparse_decode/decode/B32/sq2/k2048/bf16', 'kernels_0_6.csv' skip 1 using 1:2 with linespoints title 'sparse_decode/decode/B32/sq2/k2048/fp8_e4m3'
unset multiplot
set output
set terminal pngcairo size 1400,820 font 'sans,10' noenhanced
set output 'kernels_1.png'
reset session
set datafile separator ','
set grid
set key top left box opaque
set label 99 'costcurve 2211d534558a7430400145b5be77de8755286fe1 - NVIDIA H100 80GB HBM3 - 2026-12-07T16:16:38+00:00' at screen 0.005,0.012 font ',8'
set multiplot layout 2,3 title 'Kernel throughput vs context: deepseek-v3.1-terminus - costcurve 2211d534558a7430400145b5be77de8755286fe1 - NVIDIA H100 ' margins 0.07,0.98,0.08,0.90 spacing 0.08,0.12
set xlabel 'context position (K tokens)'
set autoscale xfix
set logscale x 2
set key bottom right font ',7'
set title 'dense_prefill'
set ylabel 'TFLOP/s'
set yrange [0:883]
plot 767.8 with lines lw 2 lc rgb '#cc0000' title 'bf16 GEMM ceiling 768', 'kernels_1_2.csv' skip 1 using 1:3 with linespoints title 'dense_prefill/prefill/B1/sq512/bf16'
set xlabel 'context position (K tokens)'
set autoscale xfix
set logscale x 2
set key bottom right font ',7'
set title 'dense_decode'
set ylabel 'TFLOP/s'
set yrange [0:883]
plot 767.8 with lines lw 2 lc rgb '#cc0000' title 'bf16 GEMM ceiling 768', 'kernels_1_0.csv' skip 1 using 1:3 with linespoints title 'dense_decode/decode/B1/sq2/bf16', 'kernels_1_1.csv' skip 1 using 1:3 with linespoints title 'dense_decode/decode/B32/sq2/bf16'
unset multiplot
set output
set terminal svg size 1400,820 font 'sans,10' noenhanced background '#ffffff'
set output 'kernels_1.svg'
reset session
set datafile separator ','
set grid
set key top left box opaque
set label 99 'costcurve 2211d534558a7430400145b5be77de8755286fe1 - NVIDIA H100 80GB HBM3 - 2026-12-07T16:16:38+00:00' at screen 0.005,0.012 font ',8'
set multiplot layout 2,3 title 'Kernel throughput vs context: deepseek-v3.1-terminus - costcurve 2211d534558a7430400145b5be77de8755286fe1 - NVIDIA H100 ' margins 0.07,0.98,0.08,0.90 spacing 0.08,0.12
set xlabel 'context position (K tokens)'
set autoscale xfix
set logscale x 2
set key bottom right font ',7'
set title 'dense_prefill'
set ylabel 'TFLOP/s'
set yrange [0:883]
plot 767.8 with lines lw 2 lc rgb '#cc0000' title 'bf16 GEMM ceiling 768', 'kernels_1_2.csv' skip 1 using 1:3 with linespoints title 'dense_prefill/prefill/B1/sq512/bf16'
set xlabel 'context position (K tokens)'
set autoscale xfix
set logscale x 2
set key bottom right font ',7'
set title 'dense_decode'
set ylabel 'TFLOP/s'
set yrange [0:883]
plot 767.8 with lines lw 2 lc rgb '#cc0000' title 'bf16 GEMM ceiling 768', 'kernels_1_0.csv' skip 1 using 1:3 with linespoints title 'dense_decode/decode/B1/sq2/bf16', 'kernels_1_1.csv' skip 1 using 1:3 with linespoints title 'dense_decode/decode/B32/sq2/bf16'
unset multiplot
set output
set terminal pngcairo size 1400,820 font 'sans,10' noenhanced
set output 'kernels_1_time.png'
reset session
set datafile separator ','
set grid
set key top left box opaque
set label 99 'costcurve 2211d534558a7430400145b5be77de8755286fe1 - NVIDIA H100 80GB HBM3 - 2026-12-07T16:16:38+00:00' at screen 0.005,0.012 font ',8'
set multiplot layout 2,3 title 'Kernel time vs context: deepseek-v3.1-terminus - costcurve 2211d534558a7430400145b5be77de8755286fe1 - NVIDIA H100 80GB H' margins 0.07,0.98,0.08,0.90 spacing 0.08,0.12
set xlabel 'context position (K tokens)'
set autoscale xfix
set logscale xy
set key top left font ',7'
set title 'dense_prefill'
set ylabel 'seconds per run (log)'
plot 'kernels_1_2.csv' skip 1 using 1:2 with linespoints title 'dense_prefill/prefill/B1/sq512/bf16'
set xlabel 'context position (K tokens)'
set autoscale xfix
set logscale xy
set key top left font ',7'
set title 'dense_decode'
set ylabel 'seconds per run (log)'
plot 'kernels_1_0.csv' skip 1 using 1:2 with linespoints title 'dense_decode/decode/B1/sq2/bf16', 'kernels_1_1.csv' skip 1 using 1:2 with linespoints title 'dense_decode/decode/B32/sq2/bf16'
unset multiplot
set output
set terminal svg size 1400,820 font 'sans,10' noenhanced background '#ffffff'
set output 'kernels_1_time.svg'
reset session
set datafile separator ','
set grid
set key top left box opaque
set label 99 'costcurve 2211d534558a7430400145b5be77de8755286fe1 - NVIDIA H100 80GB HBM3 - 2026-12-07T16:16:38+00:00' at screen 0.005,0.012 font ',8'
set multiplot layout 2,3 title 'Kernel time vs context: deepseek-v3.1-terminus - costcurve 2211d534558a7430400145b5be77de8755286fe1 - NVIDIA H100 80GB H' margins 0.07,0.98,0.08,0.90 spacing 0.08,0.12
set xlabel 'context position (K tokens)'
set autoscale xfix
set logscale xy
set key top left font ',7'
set title 'dense_prefill'
set ylabel 'seconds per run (log)'
plot 'kernels_1_2.csv' skip 1 using 1:2 with linespoints title 'dense_prefill/prefill/B1/sq512/bf16'
set xlabel 'context position (K tokens)'
set autoscale xfix
set logscale xy
set key top left font ',7'
set title 'dense_decode'
set ylabel 'seconds per run (log)'
plot 'kernels_1_0.csv' skip 1 using 1:2 with linespoints title 'dense_decode/decode/B1/sq2/bf16', 'kernels_1_1.csv' skip 1 using 1:2 with linespoints title 'dense_decode/decode/B32/sq2/bf16'
unset multiplot
set output
