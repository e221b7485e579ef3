# TEMPORARY until the C kernel lands
class KernelLearner:
    @staticmethod
    def supports(policy):
        return False
