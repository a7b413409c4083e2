namespace DiffusionLM.Training;

/// <summary>Linear warm-up to the peak, then cosine decay to <c>minRatio</c> of it at the last step.</summary>
public sealed record LearningRateSchedule(double Peak, int WarmupSteps, int TotalSteps, double MinRatio = 0.1)
{
    public double At(int step)
    {
        if (step < WarmupSteps) return Peak * (step + 1) / WarmupSteps;
        double progress = TotalSteps <= WarmupSteps ? 1.0 : (double)(step - WarmupSteps) / (TotalSteps - WarmupSteps);
        progress = Math.Clamp(progress, 0.0, 1.0);
        return Peak * (MinRatio + (1 - MinRatio) * 0.5 * (1 + Math.Cos(Math.PI * progress)));
    }
}
