using System.IO.Compression;
using System.Text;
using DiffusionLM.Text;
using Xunit;

namespace DiffusionLM.Tests.Text;

/// <summary>`train --data` on JSON Lines of documents (the teacher corpus).</summary>
public class TokenCorpusDocumentTests
{
    [Fact]
    public void EveryDocumentStartsWithBosAndTheLastDocumentsAreHeldOutWhole()
    {
        using var dir = new TempFolder();
        var path = dir["stories.jsonl.gz"];
        var docs = Enumerable.Range(0, 40).Select(i => $"Tom had {i} red balls.").ToArray();
        using (var gz = new GZipStream(File.Create(path), CompressionLevel.Fastest))
        using (var w = new StreamWriter(gz, new UTF8Encoding(false)))
            foreach (var d in docs) w.WriteLine(System.Text.Json.JsonSerializer.Serialize(new { text = d, tokens = 0, ended = true }));
        var tok = Stories260K.Tokenizer.WithMask();
        var files = TokenCorpus.ReadDocuments([path]);
        Assert.Equal(docs, files[0]);
        var corpus = TokenCorpus.Build(tok, [path], files, 8);
        int bos = tok.Special.BosId;
        // 5% of 40 = 2 documents held out, each as <s> + its tokens.
        var expectedVal = docs[38..].SelectMany(d => tok.Encode(d).Prepend(bos)).ToArray();
        var expectedTrain = docs[..38].SelectMany(d => tok.Encode(d).Prepend(bos)).ToArray();
        Assert.Equal(expectedVal, corpus.Validation);
        Assert.Equal(expectedTrain, corpus.Train);
    }

    [Fact]
    public void AMalformedLineIsNamed()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["bad.jsonl"], "{\"text\": \"fine\"}\n{\"txt\": 3}\n");
        Assert.Contains("bad.jsonl: line 2 is not a JSON object with a string \"text\"", Assert.Throws<DlmException>(() => TokenCorpus.ReadDocuments([dir["bad.jsonl"]])).Message);
        File.WriteAllText(dir["broken.jsonl"], "{\"text\": \n");
        Assert.Contains("broken.jsonl: line 1 is not valid JSON", Assert.Throws<DlmException>(() => TokenCorpus.ReadDocuments([dir["broken.jsonl"]])).Message);
        File.WriteAllText(dir["fake.jsonl.gz"], "not gzip");
        Assert.Contains("not a valid gzip file", Assert.Throws<DlmException>(() => TokenCorpus.ReadDocuments([dir["fake.jsonl.gz"]])).Message);
    }
}
