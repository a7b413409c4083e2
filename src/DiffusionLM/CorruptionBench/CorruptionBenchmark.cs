using DiffusionLM.Models;
using DiffusionLM.Teacher;
using DiffusionLM.Text;

namespace DiffusionLM.CorruptionBench;

/// <summary>`dlm bench corruption`: every corruption at equal compute on the exact HMM testbed and on the teacher stories.</summary>
public sealed class CorruptionBenchmark(CorruptionBenchOptions options)
{
    public Action<string, double, double>? OnProgress { get; init; }

    public CorruptionBenchResult Run(LladaModel? teacher, Llama2cTokenizer? tokenizer, IReadOnlyList<Story>? stories, string cpu)
    {
        options.Validate();
        var beds = new List<TestbedResult>
        {
            new CorruptionComparison(new HmmTestbed(options), options, options.HmmSampling) { OnProgress = OnProgress }.Run(),
        };
        if (!options.SkipStories)
        {
            if (teacher is null || tokenizer is null || stories is null) throw new DlmException("bench corruption: the story half needs the teacher, its tokenizer and the corpus");
            beds.Add(new CorruptionComparison(new StoryTestbed(options, teacher, tokenizer, stories), options, options.StorySampling) { OnProgress = OnProgress }.Run());
        }
        return new CorruptionBenchResult(options, cpu, beds);
    }
}
