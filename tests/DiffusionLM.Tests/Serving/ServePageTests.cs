using Xunit;
using Xunit.Abstractions;

namespace DiffusionLM.Tests.Serving;

/// <summary>
/// The page at / in headless chromium: it loads, runs two samplers on the same prompt and seed to the end, draws as
/// many tokens as were asked for on each canvas, shows the probe's top-3 per position; the screenshot is kept under
/// the test output (test-output/serve-page.png beside the test assembly).
/// </summary>
[Collection("Server")]
public class ServePageTests(ServerFixture server, ITestOutputHelper output)
{
    const int Tokens = 12;

    [Fact]
    public async Task PageRunsTwoSamplersAndTheProbe()
    {
        var chromium = HeadlessChromium.Find();
        if (chromium is null)
        {
            // CI installs it (.ci/run); a developer machine without it is told why nothing ran.
            Assert.True(Environment.GetEnvironmentVariable("CI") is null, "chromium is not installed; .ci/run installs Debian's chromium package");
            output.WriteLine("skipped: chromium is not installed (apt-get install -y chromium)");
            return;
        }
        var url = new Uri(server.Address, $"/?autorun=1&prompt=Once%20upon%20a%20time&gen_length={Tokens}&steps={Tokens}&sampler=llada&compare=fast_dllm_threshold&seed=2");
        await using var page = await HeadlessChromium.Open(chromium, url);
        await page.WaitFor("document.getElementById('statusA')?.dataset.state === 'done' && document.getElementById('statusB')?.dataset.state === 'done' " +
                           "&& document.getElementById('probeOut')?.dataset.positions !== undefined", TimeSpan.FromSeconds(240));
        foreach (var side in new[] { "A", "B" })
        {
            Assert.Equal(Tokens.ToString(), (await page.Evaluate($"document.getElementById('status{side}').dataset.tokens")).GetString());
            Assert.Equal(Tokens.ToString(), (await page.Evaluate($"document.getElementById('status{side}').dataset.drawn")).GetString());
        }
        Assert.Equal("fast_dllm_threshold", (await page.Evaluate("document.getElementById('titleB').textContent")).GetString());
        Assert.Equal(Tokens, (await page.Evaluate("document.querySelectorAll('#probeOut table tr').length")).GetInt32() - 1);
        Assert.Equal(3 * Tokens, (await page.Evaluate("document.querySelectorAll('#probeOut table td .bar').length")).GetInt32());

        var png = await page.Screenshot();
        Assert.True(png.Length > 10_000 && png[0] == 0x89 && png[1] == (byte)'P', $"not a PNG screenshot ({png.Length} bytes)");
        var file = Path.Combine(AppContext.BaseDirectory, "test-output", "serve-page.png");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        await File.WriteAllBytesAsync(file, png);
        output.WriteLine($"screenshot: {file}");
    }
}
