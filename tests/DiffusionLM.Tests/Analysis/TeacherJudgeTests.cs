using DiffusionLM.Analysis;
using Xunit;

namespace DiffusionLM.Tests.Analysis;

public class TeacherJudgeTests
{
    [Fact]
    public void BatchedNllEqualsOnePositionAtATime()
    {
        var judge = new TeacherJudge(Stories260K.Model, Stories260K.Tokenizer, batchSize: 4);
        string[] texts = ["Once upon a time, there was a big dog.", "Tom was sad.", "She said, \"Let's play!\" and ran to the park with Ben."];
        var ids = texts.Select(Stories260K.Tokenizer.Encode).ToArray();
        var batched = judge.TokenLogProbs(ids);
        double total = 0; long n = 0;
        for (int i = 0; i < texts.Length; i++)
        {
            var slow = judge.TokenLogProbsOneByOne(ids[i]);
            Assert.Equal(slow.Length, batched[i].Length);
            for (int j = 0; j < slow.Length; j++) Assert.True(Math.Abs(slow[j] - batched[i][j]) < 1e-4, $"text {i} token {j}: {slow[j]} vs {batched[i][j]}");
            Assert.True(Math.Abs(slow.Sum() - batched[i].Sum()) < 1e-4);
            total -= slow.Sum(); n += slow.Length;
        }
        var score = judge.Score(texts);
        Assert.Equal(n, score.Tokens);
        Assert.Equal(total / n, score.NllPerToken, 1e-4);
        Assert.Equal(Math.Exp(total / n), score.GenPpl, 1e-3);
    }

    [Fact]
    public void StoryTextScoresFarBelowShuffledText()
    {
        var judge = new TeacherJudge(Stories260K.Model, Stories260K.Tokenizer);
        var story = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.";
        var shuffled = string.Join(" ", story.Split(' ').Reverse());
        Assert.True(judge.Score([story]).NllPerToken + 1.0 < judge.Score([shuffled]).NllPerToken);
    }

    [Fact]
    public void UnigramEntropyIsThatOfTheTokenCounts()
    {
        Assert.Equal(Math.Log(2), TeacherJudge.UnigramEntropy([5, 5, 7, 7]), 12);
        Assert.Equal(0.0, TeacherJudge.UnigramEntropy([3, 3, 3]), 12);
        Assert.Equal(Math.Log(4), TeacherJudge.UnigramEntropy([1, 2, 3, 4]), 12);
    }
}
